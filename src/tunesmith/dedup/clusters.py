"""Union-find over record indices, and the candidate-pair helpers the dedup methods share."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets over 0..n-1; the root of a set is always its smallest member."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]      # path halving
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb

    def union_pairs(self, pairs: np.ndarray) -> None:
        for a, b in pairs.tolist():
            self.union(a, b)

    def groups(self) -> list[np.ndarray]:
        """Every set with two or more members, as sorted index arrays, ordered by smallest member."""
        roots = np.array(self.parent, dtype=np.int64)
        while True:  # pointer jumping: every node reaches its root in log(depth) vectorised steps
            up = roots[roots]
            if np.array_equal(up, roots):
                break
            roots = up
        order = np.argsort(roots, kind="stable")
        sorted_roots = roots[order]
        cuts = np.flatnonzero(np.diff(sorted_roots)) + 1
        return [g for g in np.split(order, cuts) if g.size > 1]


def bucket_pairs(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pairs (i < j) of `rows` whose `keys` are equal: each member to its bucket's first member and
    to the next member, so a bucket of k costs 2k pairs, not k^2 (a bucket of 10,000 exact copies
    must not make 50 million)."""
    if rows.size < 2:
        return np.zeros((0, 2), np.int64)
    order = np.argsort(keys, kind="stable")
    k, r = keys[order], rows[order]
    same = k[1:] == k[:-1]
    if not same.any():
        return np.zeros((0, 2), np.int64)
    starts = np.concatenate(([True], ~same))
    head = r[np.maximum.accumulate(np.where(starts, np.arange(r.size), 0))]
    chain = np.stack([r[:-1][same], r[1:][same]], axis=1)
    star = np.stack([head[1:][same], r[1:][same]], axis=1)
    pairs = np.concatenate([chain, star])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.sort(pairs, axis=1)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    if pairs.size == 0:
        return pairs.reshape(0, 2)
    key = pairs[:, 0].astype(np.int64) << 32 | pairs[:, 1].astype(np.int64)
    key = sorted_unique(key)
    return np.stack([key >> 32, key & 0xFFFFFFFF], axis=1)


def gather_index(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flat indices of the given rows' entries (row r owns [offsets[r], offsets[r+1])), row after row."""
    counts = np.diff(offsets)[rows]
    starts = offsets[:-1][rows]
    total = int(counts.sum())
    row_start = np.zeros(rows.size, np.int64)
    np.cumsum(counts[:-1], out=row_start[1:])
    return np.repeat(starts - row_start, counts) + np.arange(total)


def jaccard_pairs(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Exact Jaccard similarity of each pair of rows; rows hold sorted unique uint32 values."""
    out = np.zeros(len(pairs), np.float64)
    counts = np.diff(offsets)
    for lo in range(0, len(pairs), chunk):
        p = pairs[lo:lo + chunk]
        a, b = p[:, 0], p[:, 1]
        ids = np.arange(len(p), dtype=np.uint64) << np.uint64(32)
        ka = np.repeat(ids, counts[a]) | values[gather_index(offsets, a)].astype(np.uint64)
        kb = np.repeat(ids, counts[b]) | values[gather_index(offsets, b)].astype(np.uint64)
        keys = np.sort(np.concatenate([ka, kb]))
        shared = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
        inter = np.bincount(shared.astype(np.int64), minlength=len(p))
        union = counts[a] + counts[b] - inter
        out[lo:lo + chunk] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.3's hash-based np.unique is ~20x slower on large uint64 arrays."""
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values
