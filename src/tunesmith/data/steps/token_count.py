"""Rendered lengths of many records at once: exactly `len(render(example, ...).input_ids)`, batched.

`render` tokenizes each run of text between two token ids cumulatively: piece after piece, it encodes
the run so far and keeps the new ids when the run's earlier ids are unchanged (else it encodes the
piece alone). Its length is therefore the length of the whole run whenever that prefix check holds.
Here every cumulative text of every run of every record goes to the tokenizer in ONE batch call
(one Rust call for a fast tokenizer, instead of a few small calls per record), the prefix checks are
made on the results, and the rare record where one fails (a tokenizer merging across a piece
boundary) is measured by `render` itself. Either way the number is the one training sees.
"""

from __future__ import annotations

from tunesmith.data.example import Example
from tunesmith.text.render import merge_text, render
from tunesmith.text.spm import SP_ATTRIBUTE
from tunesmith.text.templates import Template

_NO_LIMIT = 1 << 62


def _runs(template: Template, example: Example) -> tuple[list[list[str]], int]:
    """(text runs, each a list of piece texts; number of token-id pieces), walked as render walks them."""
    runs: list[list[str]] = []
    current: list[str] = []
    ids = 0
    for pieces in template.turn_pieces(example.system, example.turns):
        for piece in merge_text(pieces):
            if piece.token_id is not None:
                ids += 1
                if current:
                    runs.append(current)
                    current = []
            elif piece.text:
                current.append(piece.text)
    if current:
        runs.append(current)
    return runs, ids


def encode_many(tokenizer, texts: list[str]) -> list[list[int]]:
    """`encode_plain` of each text (plain text, no BOS/EOS, special-token strings stay text), in one call."""
    if not texts:
        return []
    sp = getattr(tokenizer, SP_ATTRIBUTE, None)
    if sp is not None:
        return sp.encode(texts)
    return tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def rendered_lengths(examples: list[Example], template: Template, tokenizer) -> list[int]:
    """Token count of each record rendered for training with `template` (no truncation)."""
    plans = []
    texts: list[str] = []
    for example in examples:
        if example.problems():
            plans.append(None)  # render raises the reason a person can act on: let it
            continue
        runs, ids = _runs(template, example)
        spans = []
        for run in runs:
            start, so_far = len(texts), ""
            for text in run:
                so_far += text
                texts.append(so_far)
            spans.append((start, len(texts)))
        plans.append((spans, ids))
    encoded = encode_many(tokenizer, texts)
    out = []
    for example, plan in zip(examples, plans):
        n = _count(plan, encoded) if plan is not None else None
        if n is None:  # a prefix check failed (or the record is malformed): ask render itself
            n = len(render(example, template, tokenizer, max_seq_len=_NO_LIMIT, truncation="drop").input_ids)
        out.append(n)
    return out


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
