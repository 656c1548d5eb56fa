"""A second opinion on safety hits from any OpenAI-compatible endpoint (off unless `safety.judge` is set).

The rules are cheap and explainable but read only what they were written for; a capable model reads
the whole record. The step asks the judge about the records the rules left undecided: flagged ones
and borderline ones (a hit that a context cleared: history, quoting to condemn, negation…), and,
with `overrule: true`, about every record the rules would drop. A "harmful" verdict drops a
borderline record under its category's action; a "safe" verdict keeps a record the rules caught and
flags it `judge_cleared`, so nothing disappears without a trace.

One fixed prompt, answered with one word (HARMFUL or SAFE, then the category), so that answers are
cached by (model, prompt, text, settings) in an SQLite file: a second run, or a run over overlapping
data, sends no request for a text already judged. The client is the one `data synth` uses (retries
with backoff, clear errors for 4xx); an endpoint that cannot be reached stops the run when the step
starts, before any record is read, with a message that names the URL.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from tunesmith.config import Section
from tunesmith.errors import TunesmithError

JUDGE_PROMPT = (
    "You review texts for a fine-tuning data set. A text is HARMFUL if it itself does harm: threatens "
    "or incites violence against a person, insults a person, demeans a group or uses slurs against it, "
    "sexualises minors or asks for or offers pornography, or teaches or offers serious crime. A text is "
    "SAFE if it only talks about such things: history, news, health or security advice, literature, "
    "quoting something to condemn it, or advising against it.\n"
    "Answer with one word, HARMFUL or SAFE; after HARMFUL add one of: violence, abuse, discrimination, "
    "sexual, illegal.\n\nText:\n{text}"
)
CATEGORIES = ("violence", "abuse", "discrimination", "sexual", "illegal")
_VERDICT = re.compile(r"\b(harmful|unsafe|safe)\b\W*(\w+)?", re.IGNORECASE)
MAX_CHARS = 4000   # a record longer than this is judged on its head (the prompt has to fit small models)


class JudgeOptions(Section):
    base_url: str = Field(description="The endpoint, e.g. http://127.0.0.1:8000/v1 (`tunesmith serve`) or a hosted API.")
    model: str | None = Field(None, description="Model name; empty = the endpoint's only model (/models).")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key (never the key).")
    cache: str | None = Field("~/.cache/tunesmith/safety_judge.sqlite", description=(
        "SQLite file of answers keyed by model + prompt + text; empty = no cache."))
    overrule: bool = Field(False, description="Also ask about records the rules drop; a SAFE verdict keeps them, flagged.")
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(2, ge=0, description="Retries of a failed request (429, 5xx, timeouts).")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once.")


@dataclass(frozen=True)
class Verdict:
    label: str                 # "harmful", "safe" or "unclear"
    category: str | None
    note: str                  # what the report shows: "harmful (violence) by model-x" …


class SafetyJudge:
    def __init__(self, options: JudgeOptions) -> None:
        from tunesmith.llm.cache import Cache, CachedBackend
        from tunesmith.llm.client import OpenAIClient, api_key_from
        from tunesmith.llm.usage import Usage

        self.options = options
        self.usage = Usage()
        url = options.base_url.rstrip("/")
        client = OpenAIClient(url, options.model or "?", self.usage, api_key=api_key_from(options.api_key_env),
                              temperature=0.0, max_tokens=8, timeout=options.timeout,
                              max_retries=options.max_retries, backoff=0.5, max_backoff=5.0,
                              concurrency=options.concurrency)
        served = _served_models(client, url, need=options.model is None)
        client.model = options.model or served[0]
        cache = Cache(Path(options.cache).expanduser()) if options.cache else None
        self.backend = CachedBackend(client, cache, self.usage)

    def judge_many(self, texts: list[str]) -> list[Verdict]:
        if not texts:
            return []
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            return list(pool.map(self.judge, texts))

    def judge(self, text: str) -> Verdict:
        from tunesmith.llm.client import RetriesExhausted

        messages = [{"role": "user", "content": JUDGE_PROMPT.format(text=text[:MAX_CHARS])}]
        try:
            answer = self.backend.complete(messages).text
        except RetriesExhausted as e:  # the rules decide alone; the record is flagged judge_unclear
            return Verdict("unclear", None, f"no answer from {self.options.base_url}: {e}")
        return parse_verdict(answer, self.backend.model_id)


def parse_verdict(answer: str, model: str) -> Verdict:
    m = _VERDICT.search(answer or "")
    if m is None:
        return Verdict("unclear", None, f"unclear answer from {model}: {answer.strip()[:60]!r}")
    label = "safe" if m.group(1).lower() == "safe" else "harmful"
    category = (m.group(2) or "").lower()
    category = category if category in CATEGORIES else None
    return Verdict(label, category, f"{label}{f' ({category})' if category else ''} by {model}")


def _served_models(client, url: str, need: bool) -> list[str]:
    """The endpoint's models. Asked when the step starts, so that an endpoint that is down stops the run
    before any record is read (not one shard at a time); a listing that fails only matters when the
    model is not named (`need`)."""
    import httpx

    try:
        response = client.http.get(f"{url}/models")
        response.raise_for_status()
        ids = [m["id"] for m in response.json()["data"]]
    except httpx.TransportError as e:
        raise TunesmithError(f"safety judge: cannot reach {url} ({type(e).__name__}: {e})",
                             "start the server (e.g. `tunesmith serve`), fix safety.judge.base_url, "
                             "or remove safety.judge") from None
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        if not need:
            return []
        raise TunesmithError(f"safety judge: {url}/models did not list models ({e})",
                             "set safety.judge.model to the model name the endpoint serves") from None
    if need and len(ids) != 1:
        raise TunesmithError(f"safety judge: {url} serves {len(ids)} models: {', '.join(ids[:10]) or 'none'}",
                             "choose one with safety.judge.model")
    return ids
