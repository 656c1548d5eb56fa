"""Shingles for MinHash: character n-grams for CJK-dominant records, word n-grams for the rest.

A record is split into units: each CJK character is a unit (Chinese has no spaces between words),
each run of other non-space characters is a word. A record whose CJK characters outnumber its other
characters gets `char_n`-unit shingles, the rest `word_n`-unit shingles. A record with fewer units
than n gets ONE shingle, its whole text: it can only match its exact twin, never every other short
text (the "all short texts in one cluster" bug of DataFlow PR #526, which comes from giving empty
shingle sets an all-max signature). Records with no units at all get no shingles and take no part.

Everything is vectorised over a batch: a shingle's hash is a polynomial hash of its code-point span,
read off one prefix-sum array, so no Python object is built per shingle. Hashes are deterministic
(no PYTHONHASHSEED), so worker processes and Ray workers agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.dedup.normalize import SEP_CP, SPACE, cjk_mask, normalize_codepoints

_BASE = np.uint64(0x100000001B3)                 # odd, so it has an inverse mod 2**64
_BASE_INV = np.uint64(pow(0x100000001B3, -1, 2**64))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads a polynomial hash's bits evenly (uint64 in, uint64 out)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass
class Shingled:
    """Shingle hashes of a batch: record i owns hashes[offsets[i]:offsets[i+1]]."""
    hashes: np.ndarray      # uint64
    offsets: np.ndarray     # int64, len n+1
    cjk: np.ndarray         # bool per record: char n-grams were used

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def shingle_batch(texts: list[str], word_n: int = 3, char_n: int = 5) -> Shingled:
    n = len(texts)
    if n == 0:
        return Shingled(np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(0, bool))
    cps, spans = normalize_codepoints(texts)
    tok = (cps != SPACE) & (cps != SEP_CP)
    cjk = cjk_mask(cps)
    word = tok & ~cjk
    prev_word = np.concatenate(([False], word[:-1]))
    next_word = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero(tok & (cjk | ~prev_word))
    ends = np.flatnonzero(tok & (cjk | ~next_word)) + 1
    unit_rec = np.searchsorted(spans[:, 0], starts, side="right") - 1

    is_cjk = _span_count(cjk, spans) > _span_count(word, spans)

    units = np.bincount(unit_rec, minlength=n)
    first_unit = np.zeros(n + 1, np.int64)
    np.cumsum(units, out=first_unit[1:])
    want = np.where(is_cjk, char_n, word_n)
    per = np.minimum(want, units)                             # units per shingle (short records: all)
    count = np.where(units > 0, units - per + 1, 0)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(count, out=offsets[1:])
    total = int(offsets[-1])
    rec = np.repeat(np.arange(n), count)
    local = np.arange(total) - offsets[rec]
    u0 = first_unit[rec] + local
    u1 = u0 + per[rec] - 1
    s, e = starts[u0], ends[u1]

    # prefix[j] = sum_{t<j} cps[t] * B^t (mod 2^64); span hash = (prefix[e]-prefix[s]) * B^-s.
    return Shingled(_span_hashes(cps, s, e), offsets, is_cjk)


def _span_count(mask: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """How many True entries of `mask` fall in each [start, end) span."""
    csum = np.zeros(mask.size + 1, np.int32)
    np.cumsum(mask, dtype=np.int32, out=csum[1:])
    return csum[spans[:, 1]] - csum[spans[:, 0]]


def char_ngram_hashes(texts: list[str], n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-character window of each normalised text (spaces included, so word
    boundaries count), and offsets. A text shorter than n gives one hash of its whole text."""
    cps, spans = normalize_codepoints(texts)
    lengths = spans[:, 1] - spans[:, 0]
    per = np.minimum(lengths, n)
    count = np.where(lengths > 0, lengths - per + 1, 0)
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(count, out=offsets[1:])
    rec = np.repeat(np.arange(len(texts)), count)
    s = spans[rec, 0] + (np.arange(int(offsets[-1])) - offsets[rec])
    e = s + per[rec]
    return _span_hashes(cps, s, e), offsets


def _span_hashes(cps: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Mixed polynomial hash of each code-point span cps[s:e]."""
    size = cps.size
    with np.errstate(over="ignore"):
        powers = np.empty(size + 1, np.uint64)
        powers[0] = 1
        powers[1:] = _BASE
        np.cumprod(powers, out=powers)
        inv = np.empty(size + 1, np.uint64)
        inv[0] = 1
        inv[1:] = _BASE_INV
        np.cumprod(inv, out=inv)
        prefix = np.zeros(size + 1, np.uint64)
        np.cumsum(cps.astype(np.uint64) * powers[:-1], out=prefix[1:])
        raw = (prefix[e] - prefix[s]) * inv[s]
    return mix64(raw ^ (e - s).astype(np.uint64))
