"""What asking an LLM (a synth run, the safety judge) has cost so far: requests, retries, cache hits, tokens. Shared by worker threads."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Usage:
    requests: int = 0            # HTTP requests sent (or local generations run), retries included
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0            # passages given up on after every retry
    retry_reasons: Counter = field(default_factory=Counter)   # "http 429", "timeout", "malformed", ...
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def retried(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] += 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def postfix(self) -> dict:
        """The short counters the progress bar shows."""
        return {"req": self.requests, "retry": self.retries, "cache": self.cache_hits, "tok": self.tokens}

    def to_dict(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "retries": self.retries, "cache_hits": self.cache_hits,
                    "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                    "failures": self.failures, "retry_reasons": dict(self.retry_reasons)}
