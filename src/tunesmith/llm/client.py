"""An OpenAI-compatible chat client that survives the ways real endpoints fail.

Retried, with exponential backoff and full jitter (and `Retry-After` when the server sends one):
429, any 5xx, timeouts, dropped connections, and 200 responses whose body is not the JSON a chat
completion should be. Not retried, because repeating cannot help: 400, 401, 403, 404 and other 4xx,
which stop the run with a message that says what to fix. The API key comes from an environment
variable, never from a config file. Thread-safe: the runner calls `complete` from several workers.
"""

from __future__ import annotations

import json
import os
import random
import time

import httpx

from tunesmith.llm.cache import Completion
from tunesmith.llm.usage import Usage
from tunesmith.errors import TunesmithError


class RetriesExhausted(Exception):
    """Every attempt failed for a retryable reason; the passage is reported, the run goes on."""


class OpenAIClient:
    def __init__(self, base_url: str, model: str | None, usage: Usage, api_key: str | None = None,
                 temperature: float = 0.7, max_tokens: int = 512, timeout: float = 60.0, max_retries: int = 6,
                 backoff: float = 1.0, max_backoff: float = 30.0, concurrency: int = 4):
        self.base_url = base_url.rstrip("/")
        self.usage = usage
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                 limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))
        self.model = model or self._only_model()
        self.settings = {"temperature": temperature, "max_tokens": max_tokens}

    @property
    def model_id(self) -> str:
        return self.model

    def complete(self, messages: list[dict]) -> Completion:
        payload = {"model": self.model, "messages": messages, **self.settings}
        reason, retry_after = "no attempt", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.retried(reason)
                time.sleep(self._delay(attempt, retry_after))
            retry_after = None
            self.usage.add(requests=1)
            try:
                response = self.http.post(f"{self.base_url}/chat/completions", json=payload)
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.TransportError as e:
                reason = f"connection ({type(e).__name__})"
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                reason = f"http {status}"
                retry_after = _retry_after(response)
                continue
            if status >= 400:
                raise self._fatal(response)
            parsed = _parse(response)
            if parsed is None:
                reason = "malformed"
                continue
            self.usage.add(prompt_tokens=parsed.prompt_tokens, completion_tokens=parsed.completion_tokens)
            return parsed
        raise RetriesExhausted(f"{self.max_retries + 1} attempts failed, the last with: {reason}")

    def close(self) -> None:
        self.http.close()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        # Full jitter: concurrent workers hit by the same 429 do not come back in lockstep.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _only_model(self) -> str:
        """No model named: use the endpoint's only model, as local servers usually have one."""
        try:
            response = self.http.get(f"{self.base_url}/models")
            response.raise_for_status()
            ids = [m["id"] for m in response.json()["data"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            raise TunesmithError(f"backend.model is not set and {self.base_url}/models did not list models ({e})",
                                 "set --model (backend.model) to the model name the endpoint serves") from None
        if len(ids) != 1:
            raise TunesmithError(f"backend.model is not set and {self.base_url} serves {len(ids)} models: "
                                 f"{', '.join(ids[:10]) or 'none'}", "choose one with --model") from None
        return ids[0]

    def _fatal(self, response: httpx.Response) -> TunesmithError:
        status = response.status_code
        body = response.text.strip().replace("\n", " ")[:300]
        hints = {401: "set the API key in the environment variable named by backend.api_key_env",
                 403: "the API key lacks access to this model",
                 404: f"check backend.base_url (it usually ends in /v1) and that model '{self.model}' exists"}
        if status == 400 and "context" in body.lower():
            # Passages are measured by an estimate unless told the model's tokenizer; the model disagreed.
            return TunesmithError(f"{self.base_url} refused a prompt as too long for the model: {body}",
                                  "lower split.max_tokens, or set split.tokenizer to the model's folder so passages "
                                  "are measured with its own tokenizer")
        return TunesmithError(f"{self.base_url}/chat/completions answered HTTP {status}: {body}",
                              hints.get(status, "check the request settings (backend.model, backend.max_tokens)"))


def _parse(response: httpx.Response) -> Completion | None:
    """The answer text and token counts, or None when the body is not a usable chat completion."""
    try:
        data = response.json()
        text = data["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(text, str):
        return None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Completion(text, _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")))


def _count(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def api_key_from(env_name: str | None) -> str | None:
    return os.environ.get(env_name) if env_name else None
