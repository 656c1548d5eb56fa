"""MinHash signatures as one uint32 numpy matrix (records x num_perm), three interchangeable backends.

- `numpy` (ours, the default): one-permutation hashing (each shingle hash picks a bin by its high
  bits; a bin keeps the least low-32-bit value) with rotation densification (an empty bin copies
  the nearest filled bin to its right plus a distance offset; Shrivastava & Li, ICML 2014). O(shingles
  + records x num_perm) instead of O(shingles x num_perm); the probability that two records agree
  in a bin is still their Jaccard similarity.
- `rensa`: rensa's Rust MinHash over the same shingle hashes (`digest_matrix_from_flat_token_hashes`).
  Its digest is fast, but the matrix only leaves Rust as Python lists (`to_rows`, ~37 us a record).
- `datasketch`: datasketch's LeanMinHash per record, the usual way people write it.

`benchmarks/dedup.py` times all three; see the numbers in its output and in README.md.
"""

from __future__ import annotations

import math

import numpy as np

from tunesmith.dedup.clusters import gather_index

EMPTY = np.uint32(0xFFFFFFFF)
BACKENDS = ("numpy", "rensa", "datasketch")


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 128, seed: int = 1,
               backend: str = "numpy") -> np.ndarray:
    """(n, num_perm) uint32 signatures; a record without shingles gets a row of EMPTY."""
    if backend == "numpy":
        return _oph(hashes, offsets, num_perm, seed)
    if backend == "rensa":
        return _rensa(hashes, offsets, num_perm, seed)
    if backend == "datasketch":
        return _datasketch(hashes, offsets, num_perm, seed)
    raise ValueError(f"unknown MinHash backend {backend!r}; choose from {BACKENDS}")


def _oph(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    from tunesmith.dedup.shingles import mix64

    n = offsets.size - 1
    sig = np.full(n * num_perm, EMPTY, np.uint32)
    if hashes.size:
        h = mix64(hashes ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64))
        bins = ((h >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)
        rec = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
        np.minimum.at(sig, rec * num_perm + bins.astype(np.int64), (h & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    sig = sig.reshape(n, num_perm)
    return _densify(sig)


def _densify(sig: np.ndarray) -> np.ndarray:
    """Fill each empty bin from the nearest filled bin to its right (circularly), + offset."""
    n, p = sig.shape
    empty = sig == EMPTY
    if not empty.any():
        return sig
    # Work transposed (bins x records) so the accumulate runs with records as the inner loop.
    t_empty = np.concatenate([empty.T, empty.T])                     # (2p, n)
    idx = np.where(t_empty, np.int16(2 * p), np.arange(2 * p, dtype=np.int16)[:, None])
    nxt = np.minimum.accumulate(idx[::-1], axis=0)[::-1][:p]         # (p, n): source bin (may be >= p)
    has = nxt < 2 * p
    src = np.where(has, nxt % p, 0).astype(np.int64)
    dist = (nxt.astype(np.int64) - np.arange(p)[:, None]).astype(np.uint32)
    filled = np.take_along_axis(sig.T, src, axis=0)
    with np.errstate(over="ignore"):
        filled = filled + dist * np.uint32(0x9E3779B1)
    out = np.where(has, filled, EMPTY).T
    return np.ascontiguousarray(out)


def _rensa(hashes, offsets, num_perm, seed) -> np.ndarray:
    import rensa

    n = offsets.size - 1
    out = np.full((n, num_perm), EMPTY, np.uint32)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    if nonempty.size == 0:
        return out
    # rensa wants contiguous rows with no empty ones.
    sub = hashes[gather_index(offsets, nonempty)] if nonempty.size < n else hashes
    sub_off = np.zeros(nonempty.size + 1, np.uint64)
    np.cumsum(np.diff(offsets)[nonempty], out=sub_off[1:])
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(np.ascontiguousarray(sub), sub_off, num_perm, seed)
    out[nonempty] = np.asarray(matrix.to_rows(), dtype=np.uint32)
    return out


def _datasketch(hashes, offsets, num_perm, seed) -> np.ndarray:
    from datasketch import MinHash

    n = offsets.size - 1
    out = np.full((n, num_perm), EMPTY, np.uint32)
    for i in range(n):
        part = hashes[offsets[i]:offsets[i + 1]]
        if part.size:
            m = MinHash(num_perm=num_perm, seed=seed, hashfunc=_identity)
            m.update_batch((part >> np.uint64(32)).tolist())
            out[i] = m.hashvalues.astype(np.uint32)
    return out


def _identity(x):
    return x


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + negative area around `threshold`
    (the S-curve 1-(1-s^r)^b), as datasketch does."""
    def area(f, lo, hi, steps=200):
        w = (hi - lo) / steps
        return sum(f(lo + (k + 0.5) * w) for k in range(steps)) * w

    best, best_err = (1, num_perm), math.inf
    for b in range(1, num_perm + 1):
        r = num_perm // b
        if r == 0:
            continue
        fp = area(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)
        fn = area(lambda s: (1 - s ** r) ** b, threshold, 1.0)
        err = fp_weight * fp + fn_weight * fn
        if err < best_err:
            best, best_err = (b, r), err
    return best
