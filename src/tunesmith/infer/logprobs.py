"""Log-probabilities of the tokens an answer is made of, as OpenAI's `logprobs` reports them.

`LogprobRecorder` is a logits processor that runs first, so it sees the model's own distribution
(before repetition penalty, grammar masks, temperature or top-k/top-p: vLLM's default too). It keeps
one full row at a time: the chosen token of step t is only known at step t + 1 (it is the last id of
the input then), so each row is reduced to the chosen token's log-probability and the `top` best
alternatives as soon as that token is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...]   # the `top` most likely ids at this step, best first


class LogprobRecorder:
    def __init__(self, top: int = 0):
        self.top = top
        self.entries: list[TokenLogprob] = []
        self._pending: torch.Tensor | None = None   # log-softmax row whose chosen token is not known yet

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._pending is not None:
            self._settle(int(input_ids[0, -1]))
        self._pending = torch.log_softmax(scores[0].float(), dim=-1)
        return scores

    def finish(self, ids: list[int]) -> list[TokenLogprob]:
        """All entries, once generation ended with `ids` (the last chosen token settles the last row)."""
        if self._pending is not None and len(self.entries) < len(ids):
            self._settle(ids[len(self.entries)])
        return self.entries

    def _settle(self, chosen: int) -> None:
        row, self._pending = self._pending, None
        top: tuple[tuple[int, float], ...] = ()
        if self.top:
            values, indices = row.topk(self.top)
            top = tuple(zip(indices.tolist(), values.tolist()))
        self.entries.append(TokenLogprob(chosen, float(row[chosen]), top))


@dataclass(frozen=True)
class Spelled:
    """A TokenLogprob with the text each token adds where it stands (SentencePiece drops a token's
    leading space when it is decoded alone: " Ch" must stay " Ch"), ready for the response."""
    text: str
    logprob: float
    top: tuple[tuple[str, float], ...]


_CONTEXT = 4  # ids before a token that decide how it is spelled (a leading space, a merged byte)


def spell(tokenizer, ids: list[int], entries: list[TokenLogprob], start: int) -> list[Spelled]:
    """`entries` (the tokens at ids[start], ids[start + 1], ...) spelled in context."""
    out = []
    for k, e in enumerate(entries):
        before = ids[max(0, start + k - _CONTEXT):start + k]
        head = tokenizer.decode(before, skip_special_tokens=False)  # once for the token and its alternatives
        out.append(Spelled(_added(tokenizer, before, head, e.token_id), e.logprob,
                           tuple((_added(tokenizer, before, head, i), lp) for i, lp in e.top)))
    return out


def _added(tokenizer, before: list[int], head: str, token_id: int) -> str:
    whole = tokenizer.decode(before + [token_id], skip_special_tokens=False)
    return whole[len(head):] if whole.startswith(head) else tokenizer.decode([token_id], skip_special_tokens=False)


def _one(text: str, logprob: float) -> dict:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8", "surrogatepass"))}


def chat_logprobs(entries: list[Spelled]) -> dict:
    """`choices[i].logprobs` of /v1/chat/completions."""
    return {"content": [{**_one(e.text, e.logprob), "top_logprobs": [_one(t, lp) for t, lp in e.top]}
                        for e in entries], "refusal": None}


def completion_logprobs(entries: list[Spelled], offset: int = 0) -> dict:
    """`choices[i].logprobs` of /v1/completions (the legacy shape: parallel lists)."""
    offsets, at = [], offset
    for e in entries:
        offsets.append(at)
        at += len(e.text)
    return {"tokens": [e.text for e in entries], "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [dict(e.top) for e in entries], "text_offset": offsets}
