"""Semantic duplicates by vector retrieval: embed, search a faiss inner-product index for every
neighbour above a cosine threshold, join neighbours with union-find.

Vectors are L2-normalised, so inner product = cosine. Up to `flat_limit` records the index is exact
(`IndexFlatIP`); above it an IVF index (`IndexIVFFlat`, sqrt(n)*4 lists, 16 probed) keeps the search
sub-quadratic at a small loss of recall. `range_search` returns every neighbour above the threshold,
so a cluster is never cut at an arbitrary k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tunesmith.dedup.clusters import UnionFind, unique_pairs
from tunesmith.dedup.embedders import Embedder


@dataclass
class SemanticResult:
    clusters: list[np.ndarray]
    pairs: np.ndarray            # (m, 2) neighbour pairs i < j at or above the threshold
    vectors: np.ndarray          # (n, d) normalised embeddings

    def similarity(self, pairs: np.ndarray) -> np.ndarray:
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        return np.einsum("ij,ij->i", self.vectors[pairs[:, 0]], self.vectors[pairs[:, 1]])


@dataclass
class SemanticDuplicates:
    embedder: Embedder
    threshold: float | None = None       # None: the embedder's default
    flat_limit: int = 50_000
    query_chunk: int = 4096

    def find(self, texts: Sequence[str]) -> SemanticResult:
        vectors = self.embedder.embed(list(texts))
        return self.find_vectors(vectors)

    def find_vectors(self, vectors: np.ndarray) -> SemanticResult:
        import faiss

        threshold = self.threshold if self.threshold is not None else self.embedder.default_threshold
        n = vectors.shape[0]
        if n < 2:
            return SemanticResult([], np.zeros((0, 2), np.int64), vectors)
        index = self._index(vectors, faiss)
        found = []
        for lo in range(0, n, self.query_chunk):
            lims, dist, ids = index.range_search(vectors[lo:lo + self.query_chunk], float(threshold) - 1e-6)
            rows = np.repeat(np.arange(lo, lo + len(lims) - 1), np.diff(lims).astype(np.int64))
            keep = ids != rows
            found.append(np.stack([rows[keep], ids[keep]], axis=1))
        pairs = unique_pairs(np.sort(np.concatenate(found), axis=1)) if found else np.zeros((0, 2), np.int64)
        uf = UnionFind(n)
        uf.union_pairs(pairs)
        return SemanticResult(uf.groups(), pairs, vectors)

    def _index(self, vectors, faiss):
        n, d = vectors.shape
        if n <= self.flat_limit:
            index = faiss.IndexFlatIP(d)
        else:
            lists = int(4 * math.sqrt(n))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
            sample = vectors[np.random.default_rng(0).choice(n, min(n, lists * 64), replace=False)]
            index.train(sample)
            index.nprobe = 16
        index.add(vectors)
        return index
