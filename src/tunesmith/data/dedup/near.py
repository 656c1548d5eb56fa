"""Near-duplicate detection: MinHash signatures, LSH banding, exact Jaccard check, union-find.

    finder = NearDuplicates(threshold=0.7)
    result = finder.find(texts)          # result.clusters: index arrays, result.similarity(i, j)

1. Each batch of texts is normalised and shingled (see `shingles.py`: char n-grams for CJK records,
   word n-grams for the rest), signed (`minhash.py`), and cut into `bands` band keys per record.
   Batches run in worker processes when there are many records (`workers`).
2. Records sharing a band key are candidate pairs (`clusters.bucket_pairs`: linear in bucket size).
3. Every candidate pair is checked with the exact Jaccard similarity of the two shingle sets (kept as
   sorted 32-bit hashes), so LSH only proposes and a false candidate never removes a record.
4. Pairs at or above `threshold` are joined with union-find; each set of two or more is a cluster.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from tunesmith.data.dedup.clusters import UnionFind, bucket_pairs, jaccard_pairs, sorted_unique, unique_pairs
from tunesmith.data.dedup.minhash import optimal_bands, signatures
from tunesmith.data.dedup.shingles import mix64, shingle_batch


@dataclass
class NearResult:
    clusters: list[np.ndarray]            # sorted record indices, two or more each
    candidates: int                       # candidate pairs LSH proposed
    verified: int                         # of those, pairs at or above the threshold
    sets: "ShingleSets" = field(repr=False, default=None)

    def similarity(self, pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard similarity of each (i, j) pair of record indices."""
        return jaccard_pairs(self.sets.values, self.sets.offsets, np.asarray(pairs, np.int64).reshape(-1, 2))


@dataclass
class ShingleSets:
    values: np.ndarray                    # uint32, each record's shingle hashes sorted and unique
    offsets: np.ndarray                   # int64, len n+1


@dataclass
class NearDuplicates:
    threshold: float = 0.7
    num_perm: int = 128
    bands: int | None = None              # None: chosen from the threshold (favouring recall)
    word_n: int = 3
    char_n: int = 5
    backend: str = "numpy"
    seed: int = 1
    batch_size: int = 20_000
    workers: int = 0                      # 0: one per CPU when there are more than 4 batches
    # mapper(fn, [args, ...]) -> results in order: signs the batches elsewhere (engine: ray passes
    # ray_engine.ray_map, so the signing, the heavy part, runs on the cluster). None: local processes.
    mapper: Callable | None = None

    def band_layout(self) -> tuple[int, int]:
        if self.bands:
            return self.bands, self.num_perm // self.bands
        # Misses cost a duplicate kept; false candidates only cost a Jaccard check: favour recall.
        return optimal_bands(self.threshold, self.num_perm, fp_weight=0.2, fn_weight=0.8)

    def find(self, texts: Sequence[str], progress: bool = False) -> NearResult:
        pairs, sims, sets, candidates = self.pairs(texts, progress)
        good = pairs[sims >= self.threshold]
        uf = UnionFind(len(texts))
        uf.union_pairs(good)
        return NearResult(uf.groups(), candidates=candidates, verified=len(good), sets=sets)

    def pairs(self, texts: Sequence[str], progress: bool = False, keep=None
              ) -> tuple[np.ndarray, np.ndarray, "ShingleSets", int]:
        """Every LSH candidate pair (i < j) with its exact Jaccard similarity, the shingle sets, and
        the number of candidates. `keep(pairs) -> bool mask` drops pairs before the Jaccard check."""
        n = len(texts)
        bands, rows = self.band_layout()
        batches = [list(texts[i:i + self.batch_size]) for i in range(0, n, self.batch_size)]
        parts = list(self._map(batches, bands, rows, progress))
        # (bands, n): each band's keys contiguous for the per-band sort.
        keys = np.concatenate([p[0] for p in parts]).T.copy() if parts else np.zeros((bands, 0), np.uint64)
        counts = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        values = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.uint32)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])

        live = np.flatnonzero(counts > 0)                # records without shingles never match
        pairs = unique_pairs(np.concatenate(
            [bucket_pairs(keys[b, live], live) for b in range(bands)] or [np.zeros((0, 2), np.int64)]))
        candidates = len(pairs)
        if keep is not None and len(pairs):
            pairs = pairs[keep(pairs)]
        sims = jaccard_pairs(values, offsets, pairs)
        return pairs, sims, ShingleSets(values, offsets), candidates

    def _map(self, batches, bands, rows, progress):
        args = [(b, self.word_n, self.char_n, self.num_perm, self.seed, self.backend, bands, rows) for b in batches]
        workers = self.workers or (os.cpu_count() or 1)
        bar = _bar(len(batches), progress)
        if self.mapper is not None:
            for part in self.mapper(_sign_batch, args):
                yield part
                bar.update(1)
        elif workers <= 1 or (self.workers == 0 and len(batches) <= 4):
            for a in args:
                yield _sign_batch(*a)
                bar.update(1)
        else:
            import multiprocessing as mp
            import sys

            # fork is quick, but not safe once torch has started its threads in this process.
            method = "spawn" if "torch" in sys.modules or sys.platform != "linux" else "fork"
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method)) as pool:
                for part in pool.map(_sign_batch, *zip(*args)):
                    yield part
                    bar.update(1)
        bar.close()


def _bar(total, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="near-dup signatures", unit="batch", disable=not enabled, leave=False)


def _sign_batch(texts, word_n, char_n, num_perm, seed, backend, bands, rows):
    """One batch: (band keys (n, bands) uint64, flat sorted-unique uint32 shingle sets, set sizes)."""
    sh = shingle_batch(texts, word_n=word_n, char_n=char_n)
    sig = signatures(sh.hashes, sh.offsets, num_perm=num_perm, seed=seed, backend=backend)
    keys = band_keys(sig, bands, rows)
    n = len(texts)
    rec = np.repeat(np.arange(n, dtype=np.uint64), sh.counts)
    packed = sorted_unique(rec << np.uint64(32) | (sh.hashes >> np.uint64(32)))
    counts = np.bincount((packed >> np.uint64(32)).astype(np.int64), minlength=n)
    return keys, (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32), counts


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per (record, band): a hash of that band's `rows` signature values, salted
    with the band number so equal values in different bands do not collide."""
    n = sig.shape[0]
    out = np.empty((n, bands), np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            acc = np.full(n, np.uint64(b + 1) * np.uint64(0x9E3779B97F4A7C15), np.uint64)
            for c in range(b * rows, (b + 1) * rows):
                acc = mix64(acc ^ sig[:, c].astype(np.uint64))
            out[:, b] = acc
    return out


def near_clusters(texts: Iterable[str], **options) -> list[np.ndarray]:
    """Shortcut: the clusters of near-duplicate texts."""
    return NearDuplicates(**options).find(list(texts)).clusters
