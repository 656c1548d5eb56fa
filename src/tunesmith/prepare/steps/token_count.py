"""Rendered lengths of many records at once: exactly `len(render(example, ...).input_ids)`, fast.

`render` tokenizes each run of text between two token ids cumulatively: piece after piece, it encodes
the run so far and keeps the new ids when the run's earlier ids are unchanged (else it encodes the
piece alone). Its length is therefore the length of the whole run whenever that prefix check holds.
Counting needs nothing else: no ids, no labels, no chat template rendered per record.

Three things make it fast, and each steps aside where it cannot vouch for the exact number:

- the `auto` template's pieces come from a skeleton per conversation shape (chat_skeleton.py) instead of
  two Jinja renders per turn;
- a byte-level BPE tokenizer (GPT-2, SmolLM2) is counted word by word with a cache (bpe_count.py); a
  run's prefix check holds when each piece boundary is a word boundary, which the word split tells;
- everything else (SentencePiece, other tokenizers, a boundary inside a word) is tokenized in ONE batch
  call per shard: every cumulative text of every run, prefix checks made on the results, and the rare
  record where one fails is measured by `render` itself.

`TrainingLengths` adds what training does to a record that is too long: with `truncation: cut_oldest`
it cuts the oldest exchange until the rest fits (the system prompt stays), as `render` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.records.example import Example
from tunesmith.text.render import render, text_runs
from tunesmith.text.spm import SP_ATTRIBUTE
from tunesmith.text.templates import Template

_NO_LIMIT = 1 << 62


def _runs(template: Template, example: Example) -> tuple[list[list[str]], int]:
    """(text runs, each a list of piece texts; number of token-id pieces), walked as render walks them."""
    return text_runs(template.turn_pieces(example.system, example.turns))


def encode_many(tokenizer, texts: list[str]) -> list[list[int]]:
    """`encode_plain` of each text (plain text, no BOS/EOS, special-token strings stay text), in one call."""
    if not texts:
        return []
    sp = getattr(tokenizer, SP_ATTRIBUTE, None)
    if sp is not None:
        return sp.encode(texts)
    return tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]


class RenderedLengths:
    """`lengths(examples)`: the token count of each record rendered for training (no truncation)."""

    def __init__(self, template: Template, tokenizer, *, words: bool = True, skeletons: bool = True) -> None:
        """`words`/`skeletons` False turn the word cache / the chat-template skeletons off (tests, benchmarks)."""
        from tunesmith.prepare.steps.bpe_count import ByteLevelCounter
        from tunesmith.text.auto import AutoTemplate

        self.template = template
        self.tokenizer = tokenizer
        self.words = None
        if words and not getattr(tokenizer, SP_ATTRIBUTE, None):
            self.words = ByteLevelCounter.for_tokenizer(tokenizer)
        if skeletons and isinstance(template, AutoTemplate):
            from tunesmith.prepare.steps.chat_skeleton import Skeletons

            self.skeletons = Skeletons(template)
        else:
            self.skeletons = None

    @property
    def method(self) -> str:
        """How the counts are made, for the report."""
        words = "word cache (byte-level BPE)" if self.words else "batched tokenizer calls"
        return words + (", chat-template skeletons" if self.skeletons else "")

    def lengths(self, examples: list[Example]) -> list[int]:
        out: list[int | None] = [None] * len(examples)
        plans: list[tuple | None] = []
        for example in examples:
            if example.problems():
                plans.append(None)  # render raises the reason a person can act on: let it
                continue
            plan = self.skeletons.runs(example) if self.skeletons is not None else None
            plans.append(plan if plan is not None else _runs(self.template, example))
        batched: dict[int, tuple] = {}
        if self.words is not None:
            self.words.learn(text for plan in plans if plan for run in plan[0] for text in run)
        for i, plan in enumerate(plans):
            if plan is not None:
                n = self._words(*plan) if self.words is not None else None
                if n is None:
                    batched[i] = plan
                else:
                    out[i] = n
        if batched:
            for i, n in zip(batched, self._batched(list(batched.values()))):
                out[i] = n
        for i, n in enumerate(out):  # a prefix check failed (or the record is malformed): ask render itself
            if n is None:
                out[i] = len(render(examples[i], self.template, self.tokenizer, max_seq_len=_NO_LIMIT,
                                    truncation="drop").input_ids)
        return out  # type: ignore[return-value]

    def plain_lengths(self, texts: list[str]) -> list[int]:
        """`len(encode_plain(tokenizer, text))` of each text."""
        if self.words is None:
            return [len(ids) for ids in encode_many(self.tokenizer, texts)]
        found = [self.words.length(t) for t in texts]
        missing = [t for t, n in zip(texts, found) if n is None]
        encoded = iter(encode_many(self.tokenizer, missing))
        return [n if n is not None else len(next(encoded)) for n in found]

    def _words(self, runs: list[list[str]], ids: int) -> int | None:
        """The count from the word cache, or None where it cannot vouch for it."""
        words = self.words
        total = ids
        for run in runs:
            before, last = "", ""
            for text in run:
                if not text:
                    continue
                split = words.split(text)
                if split is None or (before and not words.joins_cleanly(before, last, text)):
                    return None
                total += words.count(split)
                before, last = before + text, split[-1]
        return total

    def _batched(self, plans: list[tuple]) -> list[int | None]:
        """Counts from one batch call of the tokenizer over every cumulative run text (None: ask render)."""
        texts: list[str] = []
        spans_of = []
        for runs, ids in plans:
            spans = []
            for run in runs:
                start, so_far = len(texts), ""
                for text in run:
                    so_far += text
                    texts.append(so_far)
                spans.append((start, len(texts)))
            spans_of.append((spans, ids))
        encoded = encode_many(self.tokenizer, texts)
        return [_count(plan, encoded) for plan in spans_of]


def _count(plan, encoded: list[list[int]]) -> int | None:
    spans, total = plan
    for start, end in spans:
        before: list[int] = []
        for k in range(start, end):
            whole = encoded[k]
            if whole[:len(before)] != before:
                return None
            before = whole
        total += len(before)
    return total


def rendered_lengths(examples: list[Example], template: Template, tokenizer) -> list[int]:
    """Token count of each record rendered for training with `template` (no truncation)."""
    return RenderedLengths(template, tokenizer).lengths(examples)


@dataclass(frozen=True)
class Fit:
    """What training does with one record: its full length, and the turns cut to fit (if it fits)."""
    length: int        # tokens of the whole record
    cut: int = 0       # oldest turns training cuts (cut_oldest)
    fitted: int = 0    # tokens after the cut; 0 when even the last exchange does not fit
    fits: bool = True


class TrainingLengths:
    """Per record, what `render(..., max_seq_len, truncation)` makes of it, counted without rendering."""

    def __init__(self, counter: RenderedLengths, max_seq_len: int, truncation: str) -> None:
        self.counter, self.max_seq_len, self.truncation = counter, max_seq_len, truncation

    def fits(self, examples: list[Example]) -> list[Fit]:
        limit = self.max_seq_len
        full = self.counter.lengths(examples)
        out = [Fit(n, 0, n, True) for n in full]
        # Cut the oldest exchange (a user turn and its answer) while too long, as render does.
        todo = [i for i, n in enumerate(full) if n > limit]
        cut = 0
        while todo:
            if self.truncation == "drop":
                for i in todo:
                    out[i] = Fit(full[i], 0, 0, False)
                break
            cut += 2
            more = [i for i in todo if len(examples[i].turns) - cut >= 2]
            for i in set(todo) - set(more):
                out[i] = Fit(full[i], 0, 0, False)
            if not more:
                break
            views = [Example(examples[i].turns[cut:], examples[i].system, examples[i].meta) for i in more]
            lengths = self.counter.lengths(views)
            todo = []
            for i, n in zip(more, lengths):
                if n <= limit:
                    out[i] = Fit(full[i], cut, n, True)
                else:
                    todo.append(i)
        return out
