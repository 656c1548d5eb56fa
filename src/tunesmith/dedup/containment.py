"""Shared shingles between a few reference texts (an eval set) and many texts (a training set), exactly.

Jaccard compares whole sets, so a short benchmark question buried in a long training record scores
low (10 shared shingles of 12 against 200: J = 0.05) and MinHash-LSH never even proposes the pair.
Containment asks the right question for contamination: what share of the eval record's shingles
occur in the training record (10/12 = 0.83)? LSH cannot find high-containment pairs, so this uses
an inverted index instead: the eval shingles, sorted by hash, are looked up for every training
shingle (vectorised, the training side in batches), giving every pair that shares one shingle or
more with its exact shared count. Eval sets are small (benchmarks are thousands of records), so the
index is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.dedup.shingles import shingle_batch


@dataclass
class Overlaps:
    """Every (eval record, training record) pair sharing a shingle, with set sizes for both measures."""
    pairs: np.ndarray          # int64 (k, 2): eval index, training index
    shared: np.ndarray         # int64 (k,): shingles in both
    eval_sizes: np.ndarray     # int64 per eval record
    train_sizes: np.ndarray    # int64 per training record

    def containment(self) -> np.ndarray:
        """Share of the eval record's shingles found in the training record."""
        return self.shared / np.maximum(1, self.eval_sizes[self.pairs[:, 0]])

    def jaccard(self) -> np.ndarray:
        e, t = self.eval_sizes[self.pairs[:, 0]], self.train_sizes[self.pairs[:, 1]]
        return self.shared / np.maximum(1, e + t - self.shared)


def unique_shingles(texts: list[str], word_n: int, char_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, record of each, set size per record): each record's shingles once, as shingles.py makes them."""
    sh = shingle_batch(texts, word_n=word_n, char_n=char_n)
    rec = np.repeat(np.arange(len(texts), dtype=np.int64), sh.counts)
    order = np.lexsort((sh.hashes, rec))
    hashes, rec = sh.hashes[order], rec[order]
    first = np.ones(len(hashes), bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (rec[1:] != rec[:-1])
    hashes, rec = hashes[first], rec[first]
    return hashes, rec, np.bincount(rec, minlength=len(texts)).astype(np.int64)


def overlaps(eval_texts: list[str], train_texts: list[str], word_n: int = 3, char_n: int = 5,
             batch_size: int = 5_000) -> Overlaps:
    eh, er, esize = unique_shingles(eval_texts, word_n, char_n)
    order = np.argsort(eh, kind="stable")
    eh, er = eh[order], er[order]
    n_eval = max(1, len(eval_texts))
    pairs, shared, sizes = [], [], []
    for start in range(0, len(train_texts), batch_size):
        th, tr, tsize = unique_shingles(train_texts[start:start + batch_size], word_n, char_n)
        sizes.append(tsize)
        lo, hi = np.searchsorted(eh, th, "left"), np.searchsorted(eh, th, "right")
        count = hi - lo
        total = int(count.sum())
        if not total:
            continue
        # Expand each training shingle into one row per eval record holding it.
        at = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + np.repeat(lo, count)
        key = (np.repeat(tr, count) + start) * n_eval + er[at]
        key, n = np.unique(key, return_counts=True)
        pairs.append(np.stack([key % n_eval, key // n_eval], axis=1))
        shared.append(n)
    return Overlaps(np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64),
                    np.concatenate(shared) if shared else np.zeros(0, np.int64), esize,
                    np.concatenate(sizes) if sizes else np.zeros(0, np.int64))
