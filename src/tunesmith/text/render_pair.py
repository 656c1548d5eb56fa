"""A preference pair (an Example with a `rejected` answer) -> two training sequences sharing one prompt.

Both sides go through `render.render`, the code path SFT trains with, with `train_on="last"`: the
labels are the answer and its end token only (earlier assistant turns of a multi-turn prompt are
context). `render` tokenizes a conversation piece by piece, left to right, so the ids of the prompt do
not depend on the answer that follows; `render_pair` asserts it: the chosen and rejected sequences
start with the same prompt ids and their labels begin at the same position.

Truncation cuts the prompt, never an answer: the oldest exchanges (a user turn and its answer) go
first, the same number for both sides so the prompt stays shared, until the longer side fits
`max_seq_len`. When the last exchange alone is too long, or truncation is "drop", the pair is TooLong.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.errors import DataError
from tunesmith.records.example import Example
from tunesmith.text.batching import IGNORE_INDEX, Sample
from tunesmith.text.render import TooLong, render
from tunesmith.text.templates import Template

_NO_LIMIT = 1 << 40


@dataclass
class PairSample:
    """One preference pair as token ids: `chosen` and `rejected` start with the same `prompt_len` ids."""

    chosen: Sample
    rejected: Sample
    prompt_len: int
    truncated: bool = False

    def __post_init__(self):
        p = self.prompt_len
        if self.chosen.input_ids[:p] != self.rejected.input_ids[:p]:
            raise ValueError("chosen and rejected do not share their first prompt_len ids")
        for side in (self.chosen, self.rejected):
            if any(y != IGNORE_INDEX for y in side.labels[:p]) or len(side) <= p:
                raise ValueError("a pair's labels must start after the prompt, and each side needs an answer")

    def __len__(self) -> int:
        """Tokens through the model for this pair (both sides): what batching groups and throughput counts."""
        return len(self.chosen) + len(self.rejected)

    @property
    def prompt_ids(self) -> list[int]:
        return self.chosen.input_ids[:self.prompt_len]

    @property
    def trained_tokens(self) -> int:
        return self.chosen.trained_tokens + self.rejected.trained_tokens

    @property
    def longest(self) -> int:
        return max(len(self.chosen), len(self.rejected))


def render_pair(example: Example, template: Template, tokenizer, *, max_seq_len: int,
                truncation: str = "cut_oldest") -> PairSample:
    """Both answers of `example` rendered after its shared prompt, fitted to `max_seq_len` (see module doc)."""
    if example.rejected is None:
        raise DataError(f"{_name(example)}: not a preference pair (no rejected answer)",
                        "give each record a chosen and a rejected answer, or train with train.objective=sft")
    if truncation not in ("drop", "cut_oldest"):
        raise ValueError(f"truncation must be 'drop' or 'cut_oldest', not {truncation!r}")
    turns, cut = list(example.turns), 0
    while True:
        part = Example(turns, example.system, example.meta, example.rejected)
        chosen = render(part, template, tokenizer, max_seq_len=_NO_LIMIT, train_on="last")
        rejected = render(part.with_answer(example.rejected), template, tokenizer, max_seq_len=_NO_LIMIT,
                          train_on="last")
        longest = max(len(chosen.input_ids), len(rejected.input_ids))
        if longest <= max_seq_len:
            break
        if truncation == "drop" or len(turns) <= 2:
            what = "the pair" if cut == 0 else f"the last exchange alone (after cutting {cut} turns)"
            raise TooLong(f"{_name(example)}: {what} is {longest} tokens on its longer side, more than "
                          f"max_seq_len={max_seq_len}",
                          "raise template.max_seq_len" + (", or use truncation=cut_oldest for multi-turn pairs"
                                                          if truncation == "drop" else ""),
                          length=longest, max_seq_len=max_seq_len)
        turns, cut = turns[2:], cut + 2  # the oldest exchange: prompt only, both sides alike
    prompt_len = _first_label(chosen.labels)
    # By construction (render tokenizes left to right), the prompt is the same on both sides.
    assert prompt_len == _first_label(rejected.labels), "the two answers start at different positions"
    assert chosen.input_ids[:prompt_len] == rejected.input_ids[:prompt_len], "the prompt ids differ in a pair"
    return PairSample(Sample(chosen.input_ids, chosen.labels), Sample(rejected.input_ids, rejected.labels),
                      prompt_len, truncated=cut > 0)


def _first_label(labels: list[int]) -> int:
    for i, y in enumerate(labels):
        if y != IGNORE_INDEX:
            return i
    return len(labels)


def _name(example: Example) -> str:
    meta = example.meta or {}
    if meta.get("source") and meta.get("line"):
        return f"{meta['source']}:{meta['line']}"
    return str(meta.get("id") or "record")
