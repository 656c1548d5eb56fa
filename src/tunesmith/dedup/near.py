"""Near-duplicate detection: MinHash signatures, LSH banding, exact Jaccard check, union-find.

    finder = NearDuplicates(threshold=0.7)
    result = finder.find(texts)          # result.clusters: index arrays, result.similarity(i, j)

1. Each batch of texts is normalised and shingled (see `shingles.py`: char n-grams for CJK records,
   word n-grams for the rest), signed (`minhash.py`), and cut into `bands` band keys per record.
   Batches run in worker processes when there are many records (`workers`).
2. Records sharing a band key are candidate pairs (`clusters.bucket_pairs`: linear in bucket size).
3. Every candidate pair is checked with the exact Jaccard similarity of the two shingle sets (kept as
   sorted 32-bit hashes), so LSH only proposes and a false candidate never removes a record.
4. With `parts` (the dedup_near step passes each record's instruction, input and answer), a pair must
   also reach `threshold` on each part alone, compared by character `part_n`-grams (robust on short
   texts: one word changed in a short instruction still matches, "hi" and "hello" do not). Jaccard
   over the joined text lets one long shared part outvote the rest: two questions about the same
   long abstract, with different answers, scored as duplicates (issue #14).
5. Pairs at or above `threshold` are joined with union-find; each set of two or more is a cluster.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from tunesmith.dedup.clusters import UnionFind, bucket_pairs, jaccard_pairs, sorted_unique, unique_pairs
from tunesmith.dedup.minhash import optimal_bands, signatures
from tunesmith.dedup.shingles import char_ngram_hashes, mix64, shingle_batch


@dataclass
class NearResult:
    clusters: list[np.ndarray]            # sorted record indices, two or more each
    candidates: int                       # candidate pairs LSH proposed
    verified: int                         # of those, pairs at or above the threshold
    sets: "ShingleSets" = field(repr=False, default=None)
    parts: "PartSets | None" = field(repr=False, default=None)

    def similarity(self, pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard similarity of each (i, j) pair of record indices (with parts: the lowest of the
        whole record's and each part's). Parts are known for the records of verified pairs only."""
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        sims = jaccard_pairs(self.sets.values, self.sets.offsets, pairs)
        return sims if self.parts is None else np.minimum(sims, self.parts.similarity(pairs))


@dataclass
class ShingleSets:
    values: np.ndarray                    # uint32, each record's shingle hashes sorted and unique
    offsets: np.ndarray                   # int64, len n+1


@dataclass
class PartSets:
    """Character n-gram sets of the parts of some records. A part (the instructions, the inputs, the
    answers) is a list of texts per record: one per turn of a conversation."""
    local: np.ndarray                     # int64 per record: its row in `first`, -1 when not shingled
    first: list[np.ndarray]               # per part: int64 index of each record's first item, len m+1
    sets: list[ShingleSets]               # per part: one set per item

    @classmethod
    def build(cls, parts: Sequence[Sequence[Sequence[str]]], records: np.ndarray, n_records: int,
              n: int) -> "PartSets":
        local = np.full(n_records, -1, np.int64)
        local[records] = np.arange(len(records))
        firsts, sets = [], []
        for part in parts:
            items = [part[int(i)] for i in records]
            first = np.zeros(len(items) + 1, np.int64)
            np.cumsum([len(x) for x in items], out=first[1:])
            hashes, offsets = char_ngram_hashes([t for x in items for t in x], n)
            firsts.append(first)
            sets.append(packed_sets(hashes, np.diff(offsets), int(first[-1])))
        return cls(local, firsts, sets)

    def similarity(self, pairs: np.ndarray) -> np.ndarray:
        """The lowest part similarity of each pair. A part's similarity is the mean Jaccard of its
        items taken in turn order (a missing turn counts 0): the share of a conversation's questions,
        or answers, that are the same. An item empty in both records, or a part with no items in
        either, counts as the same (1.0)."""
        local = self.local[pairs]
        if (local < 0).any():
            raise ValueError("part similarity asked for a record whose parts were not shingled")
        out = np.ones(len(pairs))
        for first, part in zip(self.first, self.sets):
            size = np.diff(first)
            na, nb = size[local[:, 0]], size[local[:, 1]]
            common, longest = np.minimum(na, nb), np.maximum(na, nb)
            pair = np.repeat(np.arange(len(pairs)), common)         # one row per aligned item
            k = np.arange(int(common.sum())) - np.repeat(np.cumsum(common) - common, common)
            items = np.stack([first[local[pair, 0]] + k, first[local[pair, 1]] + k], axis=1)
            counts = np.diff(part.offsets)
            sims = jaccard_pairs(part.values, part.offsets, items)
            sims[(counts[items[:, 0]] == 0) & (counts[items[:, 1]] == 0)] = 1.0
            total = np.bincount(pair, weights=sims, minlength=len(pairs))
            out = np.minimum(out, np.where(longest > 0, total / np.maximum(longest, 1), 1.0))
        return out


def packed_sets(hashes: np.ndarray, counts: np.ndarray, n: int) -> ShingleSets:
    """Each record's shingle hashes (record i owns the next counts[i]) as sorted unique 32-bit values."""
    rec = np.repeat(np.arange(n, dtype=np.uint64), counts)
    packed = sorted_unique(rec << np.uint64(32) | (hashes >> np.uint64(32)))
    sizes = np.bincount((packed >> np.uint64(32)).astype(np.int64), minlength=n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return ShingleSets((packed & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets)


@dataclass
class NearDuplicates:
    threshold: float = 0.7
    num_perm: int = 128
    bands: int | None = None              # None: chosen from the threshold (favouring recall)
    word_n: int = 3
    char_n: int = 5
    part_n: int = 3                       # characters per shingle of a part (see `find(parts=...)`)
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

    def find(self, texts: Sequence[str], progress: bool = False,
             parts: Sequence[Sequence[str]] | None = None) -> NearResult:
        """Clusters of `texts`. `parts`: lists of texts, each as long as `texts` (e.g. every record's
        instruction, input, answer); a pair is then a duplicate only when each part, too, is at or
        above the threshold."""
        pairs, sims, sets, candidates = self.pairs(texts, progress)
        good = pairs[sims >= self.threshold]
        part_sets = None
        if parts and len(good):
            part_sets = PartSets.build(parts, sorted_unique(good.ravel()), len(texts), self.part_n)
            good = good[part_sets.similarity(good) >= self.threshold]
        uf = UnionFind(len(texts))
        uf.union_pairs(good)
        return NearResult(uf.groups(), candidates=candidates, verified=len(good), sets=sets, parts=part_sets)

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
    sets = packed_sets(sh.hashes, sh.counts, len(texts))
    return keys, sets.values, np.diff(sets.offsets)


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
