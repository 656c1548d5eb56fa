"""Decoding on top of `model.generate`, shared by chat, generate, eval and serve.

- `Generation(...)`: iterate it for the answer's text as it is produced (streaming); afterwards it
  holds the token ids, the finish reason ("stop" or "length") and the token counts. A `cancel` event
  stops it between two tokens (a client that went away, a stop string that appeared).
- `generate_batch(...)`: many prompts at once, left-padded, longest first, with a progress bar.

Both stop at the template's end-of-turn ids (passed in by the caller, who knows the template) and at
optional stop strings, and neither lets a prompt run past the model's context: `fit()` refuses a
prompt that leaves no room and shortens max_new_tokens to what is left.
"""

from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from tunesmith.errors import TunesmithError
from tunesmith.infer.logprobs import LogprobRecorder, spell

_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.0          # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0                    # 0 = no top-k cut
    repetition_penalty: float = 1.0
    seed: int | None = None           # fixes sampled answers (greedy ones are fixed anyway)
    stop: tuple[str, ...] = ()        # stop strings; the answer ends before the first one

    def generate_kwargs(self, first=(), constraint=None) -> dict:
        """`model.generate` arguments: the processors below, and neutral values for transformers' own
        (None would let a model's generation_config.json slip its temperature or top-k back in)."""
        kw: dict = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": 1.0,
                    "logits_processor": self.processors(first, constraint)}
        if self.temperature > 0:
            kw.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw

    def processors(self, first=(), constraint=None):
        """The logits processors in transformers' own order (penalty, then temperature, top-k, top-p),
        with `first` (a recorder that must see the model's raw scores) ahead of them all and a grammar
        mask before the sampling warpers, so top-p never keeps only tokens the grammar forbids."""
        from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                  TopKLogitsWarper, TopPLogitsWarper)

        found = list(first)
        if self.repetition_penalty != 1.0:
            found.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if constraint is not None:
            found.append(constraint)
        if self.temperature > 0:
            if self.temperature != 1.0:
                found.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k:
                found.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                found.append(TopPLogitsWarper(self.top_p))
        return LogitsProcessorList(found)


class PromptTooLong(TunesmithError):
    """The prompt leaves no room for an answer in the model's context."""

    def __init__(self, prompt_tokens: int, context: int):
        super().__init__(f"the prompt is {prompt_tokens} tokens; the model's context is {context} tokens, "
                         "which leaves no room for an answer",
                         "shorten the prompt or the conversation history")
        self.prompt_tokens = prompt_tokens
        self.context = context


def fit(prompt_tokens: int, sampling: Sampling, context: int) -> Sampling:
    """`sampling` with max_new_tokens cut to what the context has left; PromptTooLong if nothing is left."""
    room = context - prompt_tokens
    if room <= 0:
        raise PromptTooLong(prompt_tokens, context)
    if sampling.max_new_tokens <= room:
        return sampling
    return Sampling(**{**sampling.__dict__, "max_new_tokens": room})


def default_stop_ids(model, tokenizer) -> list[int]:
    """The tokenizer's eos and whatever the generation config names (for callers without a template)."""
    ids = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(value)
    return sorted(ids)



@dataclass
class Completion:
    text: str
    token_ids: list[int]              # every id generated, end token and tokens past a stop string included
    finish_reason: str                # "stop" (end token or stop string) or "length"
    prompt_tokens: int
    completion_tokens: int            # the tokens of `text`, as OpenAI and vLLM count them
    logprobs: list | None = None      # one TokenLogprob per completion token, when asked for


def returned_tokens(tokenizer, ids: list[int], text: str, stop_ids: Sequence[int]) -> int:
    """How many of `ids` make up `text`: not the end token, not tokens generated after a stop string
    appeared (a token that straddles the stop string's start is not counted)."""
    n = len(ids)
    if n and ids[-1] in stop_ids:
        n -= 1
    while n and len(tokenizer.decode(ids[:n], skip_special_tokens=True)) > len(text):
        n -= 1
    return n


class _Cancel:
    """A stopping criterion that ends generation when its event is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _TokenQueue:
    """A transformers streamer that hands each new token id to the consuming thread."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.prompt_seen = False

    def put(self, value):
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        self.queue.put(value.reshape(-1).tolist())

    def end(self):
        self.queue.put(None)


class Generation:
    """One answer, streamed: `for piece in Generation(...)`, then `.completion`."""

    def __init__(self, model, tokenizer, prompt_ids: Sequence[int], sampling: Sampling,
                 stop_ids: Sequence[int] | None = None, cancel: threading.Event | None = None,
                 constraint=None, logprobs: int | None = None):
        """`constraint`: a JsonConstraint (infer/constrain.py) the answer must satisfy; `logprobs`:
        None for none, else how many alternatives to report per token (0 = the chosen token only)."""
        self.model, self.tokenizer = model, tokenizer
        self.prompt_ids = list(prompt_ids)
        self.sampling = sampling
        self.stop_ids = list(stop_ids) if stop_ids is not None else default_stop_ids(model, tokenizer)
        self.cancel = cancel or threading.Event()
        self.constraint = constraint
        self.recorder = LogprobRecorder(logprobs) if logprobs is not None else None
        self.completion: Completion | None = None
        self._ids: list[int] = []
        self._logprobs_sent = 0

    def __iter__(self) -> Iterator[str]:
        from transformers import StoppingCriteriaList

        tokens = _TokenQueue()
        inputs = torch.tensor([self.prompt_ids], device=self.model.device)
        first = [self.recorder] if self.recorder else []
        constraint = self.constraint.processor() if self.constraint is not None else None
        kwargs = dict(input_ids=inputs, attention_mask=torch.ones_like(inputs), streamer=tokens,
                      eos_token_id=self.stop_ids, pad_token_id=_pad_id(self.tokenizer, self.stop_ids),
                      stopping_criteria=StoppingCriteriaList([_Cancel(self.cancel)]),
                      **self.sampling.generate_kwargs(first, constraint))
        errors: list[BaseException] = []

        def run():
            try:
                with torch.inference_mode():
                    if self.sampling.seed is not None:
                        torch.manual_seed(self.sampling.seed)
                    self.model.generate(**kwargs)
            except BaseException as e:  # surfaced to the consumer below
                errors.append(e)
            finally:
                tokens.end()

        thread = threading.Thread(target=run, daemon=True, name="tunesmith-generate")
        thread.start()
        self._text = text = _StopText(self.sampling.stop)
        byte_ids = byte_fallback_ids(self.tokenizer)
        ids = self._ids
        try:
            while (new := tokens.queue.get()) is not None:
                ids += new
                piece = text.update(self._decode(ids[:_settled(ids, byte_ids)]))
                if piece:
                    yield piece
                if text.stopped:
                    self.cancel.set()
            tail = text.finish(self._decode(ids))
            thread.join()
            if not errors:
                self.completion = self._complete(text)
            if tail:
                yield tail
        finally:
            # A consumer that stops early (client gone) must not leave the model generating for nobody.
            self.cancel.set()
            thread.join()
        if errors:
            raise errors[0]

    def _complete(self, text: "_StopText") -> Completion:
        ids = self._ids
        ended = text.stopped or (ids and ids[-1] in self.stop_ids) or len(ids) < self.sampling.max_new_tokens
        count = returned_tokens(self.tokenizer, ids, text.final, self.stop_ids)
        logprobs = None
        if self.recorder:
            logprobs = spell(self.tokenizer, ids, self.recorder.finish(ids)[:count], 0)
        return Completion(text.final, list(ids), "stop" if ended else "length", len(self.prompt_ids), count, logprobs)

    def take_logprobs(self) -> list:
        """The logprobs of tokens whose text has been handed out since the last call (streaming)."""
        if self.recorder is None:
            return []
        sent = self._logprobs_sent
        if self.completion is not None:
            fresh = self.completion.logprobs[sent:]
        else:
            upto = min(len(self.recorder.entries), self._tokens_within(self._text.sent))
            fresh = spell(self.tokenizer, self._ids, self.recorder.entries[sent:upto], sent)
        self._logprobs_sent = sent + len(fresh)
        return fresh

    def _tokens_within(self, length: int) -> int:
        n = self._logprobs_sent
        while n < len(self._ids) and len(self._decode(self._ids[:n + 1])) <= length:
            n += 1
        return n

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def byte_fallback_ids(tokenizer) -> frozenset[int]:
    """Ids of SentencePiece byte-fallback tokens (<0x41>, ...); empty for byte-level BPE tokenizers."""
    cached = getattr(tokenizer, "_tunesmith_byte_ids", None)
    if cached is None:
        cached = frozenset(i for tok, i in tokenizer.get_vocab().items() if _BYTE_TOKEN.fullmatch(tok))
        try:
            tokenizer._tunesmith_byte_ids = cached
        except AttributeError:  # pragma: no cover - a tokenizer that refuses attributes just recomputes
            pass
    return cached


def _settled(ids: list[int], byte_ids: frozenset[int]) -> int:
    """How many leading ids decode to text that later ids cannot change: a trailing run of byte tokens
    may still be completing a UTF-8 character, and the byte-fallback decoder turns EVERY byte of a run
    that fails to decode into U+FFFD (so "I" streamed early could become "\ufffd\ufffd" later)."""
    end = len(ids)
    while end and ids[end - 1] in byte_ids:
        end -= 1
    return end


class _StopText:
    """Incremental text with stop strings: hands out only text that can no longer become a stop string,
    and nothing that would split a multi-byte character (the decoder shows those as U+FFFD)."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.sent = 0
        self.stopped = False
        self.final = ""

    def update(self, text: str) -> str:
        if self.stopped:
            return ""
        cut = self._stop_at(text)
        if cut is not None:
            self.stopped = True
            self.final = text[:cut]
            return self._emit(self.final)
        safe = text.rstrip("\ufffd")
        return self._emit(safe[:max(len(safe) - self.hold, self.sent)])

    def finish(self, text: str) -> str:
        if self.stopped:
            return ""
        cut = self._stop_at(text)
        self.stopped = cut is not None
        self.final = text if cut is None else text[:cut]
        return self._emit(self.final)

    def _stop_at(self, text: str) -> int | None:
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(found) if found else None

    def _emit(self, upto: str) -> str:
        piece = upto[self.sent:]
        self.sent = max(self.sent, len(upto))
        return piece


def stream(model, tokenizer, prompt_ids: list[int], sampling: Sampling,
           stop_ids: Sequence[int] | None = None) -> Iterator[str]:
    """Yield the answer's text piece by piece as it is generated (special tokens left out)."""
    yield from Generation(model, tokenizer, prompt_ids, sampling, stop_ids)


# ----------------------------------------------------------------------------------------------
# Many prompts
# ----------------------------------------------------------------------------------------------

def generate_batch(model, tokenizer, prompts: Sequence[Sequence[int]], sampling: Sampling,
                   stop_ids: Sequence[int] | None = None, batch_size: int = 8, progress: bool = True,
                   desc: str = "generating") -> list[Completion]:
    """Answers to `prompts` (token ids), in order. Prompts are batched longest first and left-padded,
    so that every answer starts right after its own prompt."""
    from tqdm.auto import tqdm

    stop = list(stop_ids) if stop_ids is not None else default_stop_ids(model, tokenizer)
    pad = _pad_id(tokenizer, stop)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    results: list[Completion | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not progress)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            p = list(prompts[i])
            ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p):] = 1
        with torch.inference_mode():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed + start)
            out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                 eos_token_id=stop, pad_token_id=pad, **sampling.generate_kwargs())
        for row, i in enumerate(chunk):
            results[i] = _finish(tokenizer, out[row, width:].tolist(), stop, sampling, len(prompts[i]))
        bar.update(len(chunk))
    bar.close()
    return results  # type: ignore[return-value]


def _finish(tokenizer, new: list[int], stop: list[int], sampling: Sampling, prompt_tokens: int) -> Completion:
    end = next((k for k, t in enumerate(new) if t in stop), None)
    ids = new if end is None else new[:end + 1]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    cuts = [i for i in (text.find(s) for s in sampling.stop if s) if i >= 0]
    if cuts:
        text, finish = text[:min(cuts)], "stop"
    else:
        finish = "stop" if end is not None else "length"
    return Completion(text, ids, finish, prompt_tokens, returned_tokens(tokenizer, ids, text, stop))


def _pad_id(tokenizer, stop: Sequence[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return stop[0] if stop else 0
