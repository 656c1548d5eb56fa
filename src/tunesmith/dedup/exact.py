"""Exact duplicates: records whose normalised texts are equal (xxh3-128 of the normalised text).

Normalisation (see `normalize.py`) folds case, width, punctuation, whitespace and traditional vs
simplified characters. A text that normalises to nothing (only punctuation or emoji) is keyed by its
raw stripped text instead, so "!!!" and "???" stay apart rather than collapsing into one cluster.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xxhash

from tunesmith.dedup.normalize import normalize_codepoints


def exact_keys(texts: Sequence[str], batch_size: int = 50_000) -> list[bytes]:
    """A 16-byte key per text; equal keys = exact duplicates after normalisation."""
    keys: list[bytes] = []
    for lo in range(0, len(texts), batch_size):
        batch = list(texts[lo:lo + batch_size])
        cps, spans = normalize_codepoints(batch)
        raw = cps.tobytes()
        for text, (s, e) in zip(batch, spans.tolist()):
            if e > s:
                keys.append(xxhash.xxh3_128_digest(raw[4 * s:4 * e]))
            else:
                keys.append(xxhash.xxh3_128_digest(b"raw:" + text.strip().encode("utf-8", "surrogatepass")))
    return keys


def exact_clusters(texts: Sequence[str]) -> list[np.ndarray]:
    """Groups (two or more, ascending indices, ordered by first member) of exactly duplicate texts."""
    groups: dict[bytes, list[int]] = {}
    for i, key in enumerate(exact_keys(texts)):
        groups.setdefault(key, []).append(i)
    return [np.array(g, dtype=np.int64) for g in groups.values() if len(g) > 1]
