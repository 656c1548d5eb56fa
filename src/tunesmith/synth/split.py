"""Cut a document into passages of at most `max_tokens`, overlapping by about `overlap_tokens`.

Passages end on the strongest boundary available: a paragraph end (a blank line; in Chinese text
also a line break after 。！？ or before a full-width indent), else a sentence end (。！？!? and
English `. ` before a capital, skipping abbreviations such as "e.g." and "Dr."), else a clause
(，；：, ; :), and only for a clause longer than the whole budget, a cut between characters (CJK) or
words. The overlap is made of whole sentences from the end of the previous passage, when that one
was cut inside a paragraph.

Lengths are counted with a tokenizer when one is given; otherwise with `estimate_tokens`, which
counts a CJK character as 1.3 tokens and a Latin word as one token per four letters. Measured on
tests/data/synth against a Llama-2-style 32k SentencePiece vocabulary (Mistral v1): English 624
estimated vs 530 real (errs long: shorter passages), Chinese 764 vs 784. Give a tokenizer when the
budget is tight.
Every passage is the slice `text[start:end]` of its document (blank runs collapsed), so offsets can
be trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import regex

TokenCounter = Callable[[str], int]

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_CJK_CHAR = regex.compile(rf"[{_CJK}]")
# Llama 2's 32k vocabulary spends ~1.3 tokens per Chinese character (many fall back to bytes);
# newer vocabularies spend fewer, so this errs towards shorter passages.
_CJK_WEIGHT = 1.3
_ESTIMATE = regex.compile(rf"[{_CJK}]|[\p{{L}}\p{{M}}\p{{N}}_']+|[^\s{_CJK}\p{{L}}\p{{N}}]")
# A paragraph ends at a blank line, at a line break after CJK end punctuation, before an indented
# line (full-width or wide indents mark Chinese paragraphs), and around a Markdown heading line.
_PARAGRAPH = regex.compile(
    r"(?:\r?\n[ \t\u3000]*){2,}"
    r"|(?<=[。！？!?…；”」』）])[ \t\u3000]*\r?\n"
    r"|\r?\n(?=[\u3000]|[ \t]{2,}\S)"
    r"|\r?\n(?=#{1,6}\s)|(?<=^#{1,6}\s[^\n]*)\r?\n", regex.M)
_CLOSERS = "”’」』）)》】\"'"
# Sentence ends: CJK end marks (no space needed), or Latin marks followed by space + a likely start.
_SENTENCE_END = regex.compile(
    rf"[。！？…]+[{_CLOSERS}]*|[!?]+[{_CLOSERS}]*(?=\s|$|[{_CJK}])"
    rf"|\.+[{_CLOSERS}]*(?=\s+[\p{{Lu}}\p{{N}}\"'“‘(\[{_CJK}]|\s*$)")
_CLAUSE_END = regex.compile(r"[，；：、,;:]+\s*")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "fig",
                  "no", "vol", "pp", "al", "inc", "ltd", "co", "u.s", "u.k", "a.m", "p.m", "approx", "dept"}


def estimate_tokens(text: str) -> int:
    count = 0.0
    for m in _ESTIMATE.finditer(text):
        piece = m.group(0)
        if len(piece) > 1:
            count += math.ceil(len(piece) / 4)
        else:
            count += _CJK_WEIGHT if _CJK_CHAR.match(piece) else 1
    return math.ceil(count)


@dataclass(frozen=True)
class Passage:
    index: int        # position in its document
    start: int        # char offsets into the document text
    end: int
    text: str         # tidy(document[start:end]): the same text with blank runs collapsed
    tokens: int


def tidy(text: str) -> str:
    """Collapse runs of blank (or whitespace-only) lines and drop trailing spaces and full-width indents."""
    lines = [line.rstrip().lstrip("\u3000") for line in text.replace("\r\n", "\n").split("\n")]
    return regex.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    paragraph_end: bool   # a passage may end here with the best boundary


def split(text: str, max_tokens: int = 512, overlap_tokens: int = 64, min_tokens: int = 1,
          count: TokenCounter = estimate_tokens) -> list[Passage]:
    """Passages of `text`; any shorter than `min_tokens` are left out."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    units = _units(text, max_tokens, count)
    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j = i
        total = units[i].tokens
        while j + 1 < len(units) and total + units[j + 1].tokens <= max_tokens:
            j += 1
            total += units[j].tokens
        # Prefer ending on a paragraph when that still fills a third of the budget: a whole paragraph
        # asks better questions than a fuller passage that stops mid-thought.
        if j + 1 < len(units) and not units[j].paragraph_end:
            j = _paragraph_break(units, i, j, max_tokens // 3)
        # Units were counted one by one; the joined text can count a little differently. Measure it.
        tokens = count(text[units[i].start:units[j].end])
        while j > i and tokens > max_tokens:
            j -= 1
            tokens = count(text[units[i].start:units[j].end])
        start, end = units[i].start, units[j].end
        if tokens >= min_tokens:
            passages.append(Passage(len(passages), start, end, tidy(text[start:end]), tokens))
        if j + 1 >= len(units):
            break
        # Overlap keeps context that a cut inside a paragraph would lose; after a paragraph end the
        # next passage starts cleanly instead (a passage opening on "He insisted..." asks worse questions).
        # Step back over whole sentences, always moving forward at least one unit.
        nxt, carried = j + 1, 0
        while not units[j].paragraph_end and nxt - 1 > i and carried + units[nxt - 1].tokens <= overlap_tokens:
            nxt -= 1
            carried += units[nxt].tokens
        i = nxt
    return passages


def _units(text: str, max_tokens: int, count: TokenCounter) -> list[_Unit]:
    """Sentences (or smaller pieces of overlong ones), each knowing whether it ends a paragraph."""
    units: list[_Unit] = []
    for p_start, p_end in _spans(text, 0, len(text), _PARAGRAPH, keep_delimiter=False):
        pieces = []
        for s_start, s_end in _sentences(text, p_start, p_end):
            pieces.extend(_fit(text, s_start, s_end, max_tokens, count))
        heading = regex.match(r"#{1,6}\s", text[p_start:p_end]) is not None
        for n, (a, b, t) in enumerate(pieces):
            # A passage never ends on a heading: the heading belongs with the text below it.
            units.append(_Unit(a, b, t, paragraph_end=n == len(pieces) - 1 and not heading))
    return units


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    cuts = []
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.group(0).startswith(".") and _is_abbreviation(text, start, m.start()):
            continue
        cuts.append(m.end())
    return _cut(text, start, end, cuts)


def _paragraph_break(units: list[_Unit], i: int, j: int, at_least: int) -> int:
    """The last paragraph end in units[i..j) that leaves at least `at_least` tokens, else j."""
    best, running = j, 0
    for k in range(i, j):
        running += units[k].tokens
        if units[k].paragraph_end and running >= at_least:
            best = k
    return best


def _fit(text: str, start: int, end: int, max_tokens: int, count: TokenCounter,
         level: int = 0) -> list[tuple[int, int, int]]:
    """Split a sentence that exceeds the budget: at clauses, then words (CJK: characters), then characters."""
    tokens = count(text[start:end])
    if tokens <= max_tokens or level > 2:
        return [(start, end, tokens)]
    if level == 0:
        pieces = _cut(text, start, end, [m.end() for m in _CLAUSE_END.finditer(text, start, end)])
    elif level == 1:
        pieces = [(start + m.start(), start + m.end())
                  for m in regex.finditer(rf"[{_CJK}]|[^\s{_CJK}]+", text[start:end])]
    else:
        pieces = [(k, k + 1) for k in range(start, end) if not text[k].isspace()]
    if len(pieces) <= 1 and level < 2:
        return _fit(text, start, end, max_tokens, count, level + 1)
    out: list[tuple[int, int, int]] = []
    for a, b in pieces:
        for piece in _fit(text, a, b, max_tokens, count, level + 1):
            if out:   # grow the previous piece while the joined text still fits
                joined = count(text[out[-1][0]:piece[1]])
                if joined <= max_tokens:
                    out[-1] = (out[-1][0], piece[1], joined)
                    continue
            out.append(piece)
    return out


def _cut(text: str, start: int, end: int, cuts: list[int]) -> list[tuple[int, int]]:
    """The pieces between cut points, whitespace trimmed, empty ones left out."""
    bounds = [start, *[c for c in cuts if start < c < end], end]
    return [s for a, b in zip(bounds, bounds[1:]) if (s := _trim(text, a, b))]


def _spans(text: str, start: int, end: int, pattern, keep_delimiter: bool) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        if (s := _trim(text, pos, m.end() if keep_delimiter else m.start())):
            spans.append(s)
        pos = m.end()
    if (s := _trim(text, pos, end)):
        spans.append(s)
    return spans


def _trim(text: str, a: int, b: int) -> tuple[int, int] | None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else None


def _is_abbreviation(text: str, floor: int, dot: int) -> bool:
    word = regex.search(r"[\p{L}.]+$", text[max(floor, dot - 12):dot])
    if not word:
        return False
    w = word.group(0).lower().rstrip(".")
    # A single capital ("J. Smith") or a known short form; "U.S." keeps its inner dots.
    return w in _ABBREVIATIONS or (len(w) == 1 and text[dot - 1].isupper())
