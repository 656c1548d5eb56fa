"""Diffs of what a step changed, for people: a unified diff per text (changes.jsonl) and an inline,
coloured diff (report.html) in which every changed whitespace character is visible, so that a lost
newline, a collapsed indent or an ideographic space shows as a mark and not as nothing.

Both are made from a changes.jsonl row's `before`/`after` texts ({slot: text}) only when written or
shown: the run stores the texts, never the diffs, unless asked to.
"""

from __future__ import annotations

import difflib
import html
import re

# ASCII words stay whole; every other character (CJK, punctuation, each whitespace) is a token, so that
# a change inside a Chinese sentence marks the characters that changed and not the whole sentence.
_TOKEN = re.compile(r"[A-Za-z0-9_]+|.", re.S)
_MAX_TOKENS = 6000          # beyond this, texts are compared line by line (the matcher is quadratic)
_CONTEXT = 160              # unchanged characters shown on each side of a change; the rest is folded
_VISIBLE = {"\n": "↵\n", " ": "·", "\t": "→", "\r": "␍", "\u3000": "□", "\xa0": "⍽"}


def unified(before: str | None, after: str | None, slot: str, context: int = 2) -> str:
    """`diff -u` of one text; a missing final newline is said, as diff says it."""
    lines = difflib.unified_diff((before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
                                 f"before/{slot}", f"after/{slot}", n=context)
    out = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def with_diff(row: dict) -> dict:
    """The row with `diff`: the unified diffs of its changed slots, one after the other."""
    before, after = row.get("before") or {}, row.get("after") or {}
    return {**row, "diff": "".join(unified(before.get(s), after.get(s), s) for s in dict.fromkeys([*before, *after]))}


def inline_html(before: str | None, after: str | None) -> str:
    """HTML (for a `<pre>`) of `before` turned into `after`: deletions in <del>, insertions in <ins>, changed
    whitespace drawn (↵ newline, · space, → tab, □ ideographic space), long unchanged stretches folded."""
    a, b = _tokens(before or ""), _tokens(after or "")
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    out = []
    for n, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "equal":
            out.append(_fold("".join(a[i1:i2]), first=n == 0, last=n == len(ops) - 1))
            continue
        if i2 > i1:
            out.append(f"<del>{_visible(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{_visible(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def _tokens(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    return tokens if len(tokens) <= _MAX_TOKENS else text.splitlines(keepends=True)


def _visible(text: str) -> str:
    return "".join(_VISIBLE.get(c) or (f"[U+{ord(c):04X}]" if c.isspace() else html.escape(c)) for c in text)


def _fold(text: str, first: bool, last: bool) -> str:
    """An unchanged stretch: whole when short, else only the ends that touch a change."""
    keep_head, keep_tail = (0 if first else _CONTEXT), (0 if last else _CONTEXT)
    if len(text) <= keep_head + keep_tail + 40:
        return html.escape(text)
    skipped = len(text) - keep_head - keep_tail
    return (html.escape(text[:keep_head]) + f"<span class='fold'>… {skipped:,} unchanged characters …</span>"
            + html.escape(text[len(text) - keep_tail:]))
