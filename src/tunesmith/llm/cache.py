"""A persistent cache of completions keyed by (model, messages, generation settings).

SQLite, one committed row per answer: a run killed at any moment keeps every answer it received
before the kill, and a rerun (or a second run over overlapping documents) asks the LLM only for
what is missing. The messages hold the rendered prompt, so the key covers (prompt, passage, model);
the generation settings are in it too, because a different temperature or length is a different
request. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


def cache_key(model: str, messages: list[dict], settings: dict) -> str:
    blob = json.dumps({"model": model, "messages": messages, "settings": settings},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection shared by the worker threads, serialised by the lock.
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, "
                             "text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
            self._db.commit()
        except sqlite3.DatabaseError as e:
            raise TunesmithError(f"cannot open the synth cache {self.path}: {e}",
                                 "give another file with --cache, or --no-cache") from None

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?",
                                   (key,)).fetchone()
        return Completion(row[0], row[1] or 0, row[2] or 0, cached=True) if row else None

    def put(self, key: str, model: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                             (key, model, completion.text, completion.prompt_tokens, completion.completion_tokens,
                              time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedBackend:
    """Any backend (`model_id`, `settings`, `complete(messages)`) with answers looked up first."""

    def __init__(self, backend, cache: Cache | None, usage):
        self.backend = backend
        self.cache = cache
        self.usage = usage

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def complete(self, messages: list[dict]) -> Completion:
        if self.cache is None:
            return self.backend.complete(messages)
        key = cache_key(self.backend.model_id, messages, self.backend.settings)
        hit = self.cache.get(key)
        if hit is not None:
            self.usage.add(cache_hits=1)
            return hit
        completion = self.backend.complete(messages)
        self.cache.put(key, self.backend.model_id, completion)
        return completion
