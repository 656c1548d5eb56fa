"""Tuned − base differences with a paired bootstrap 95% interval, on the very numbers the report's table shows.

Every metric in the table is a corpus statistic: a function of per-record parts summed over the set.

    loss          sum of answer-token losses / answer tokens      parts: (loss sum, tokens)
    perplexity    exp(loss)                                       parts: (loss sum, tokens)
    BLEU-4        BLEU of the summed clipped n-gram counts         parts: the record's BleuStats
    ROUGE, exact match, choice accuracy: the mean of the per-record scores   parts: (score,)

The point estimate is that statistic over the whole set, tuned minus base: the same number as the
table's "tuned − base" column (not a mean of per-record differences, which for a token-weighted loss
or a corpus BLEU is a different quantity). The interval is the 2.5th-97.5th percentile of the same
difference recomputed on resamples of the records, the same resampled records for both models
(paired), so that a gap the noise of a small set could explain is shown as such.

One sign convention everywhere: tuned − base. For loss and perplexity lower is better, so a negative
difference means the tuned model is better there; the verdict reads the direction for you.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

RESAMPLES = 2000
_CHUNK = 200  # resamples drawn at once: a (chunk x records) count matrix stays small for big sets

# summed parts [resamples, k] and the record count -> the statistic per resample
Statistic = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class Difference:
    """tuned − base of one corpus metric, with its paired bootstrap 95% interval."""
    metric: str
    delta: float
    low: float
    high: float
    n: int
    lower_better: bool = False

    @property
    def verdict(self) -> str:
        better, worse = (self.high < 0, self.low > 0) if self.lower_better else (self.low > 0, self.high < 0)
        return "tuned better" if better else "base better" if worse else "no clear difference"


def mean(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / n


def token_loss(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / np.maximum(sums[:, 1], 1)


def perplexity(sums: np.ndarray, n: int) -> np.ndarray:
    return np.exp(np.minimum(token_loss(sums, n), 50.0))  # as loss.masked_loss caps it


def bleu(sums: np.ndarray, n: int) -> np.ndarray:
    from tunesmith.evaluate.metrics import BleuStats

    orders = (sums.shape[1] - 2) // 2
    return np.array([BleuStats([int(x) for x in row[:orders]], [int(x) for x in row[orders:2 * orders]],
                               int(row[-2]), int(row[-1])).score() for row in sums])


def paired(metric: str, tuned: Sequence, base: Sequence, statistic: Statistic = mean, *,
           lower_better: bool = False, resamples: int = RESAMPLES, seed: int = 0) -> Difference:
    """statistic(tuned) − statistic(base) over all records, and its paired bootstrap 95% interval.

    `tuned` and `base` hold one entry per record, in the same order: a number, or a tuple of numbers
    that `statistic` reads once they are summed."""
    t, b = _parts(tuned), _parts(base)
    if t.shape != b.shape:
        raise ValueError(f"{metric}: {len(t)} tuned records but {len(b)} base records")
    n = len(t)
    delta = float(statistic(t.sum(0, keepdims=True), n)[0] - statistic(b.sum(0, keepdims=True), n)[0])
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, resamples, _CHUNK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, resamples - start)).astype(float)
        deltas.append(statistic(counts @ t, n) - statistic(counts @ b, n))  # same draws for both: paired
    low, high = np.percentile(np.concatenate(deltas), [2.5, 97.5])
    return Difference(metric, delta, _tidy(low, delta), _tidy(high, delta), n, lower_better)


def _parts(values: Sequence) -> np.ndarray:
    arr = np.asarray([v if isinstance(v, (tuple, list)) else (v,) for v in values], dtype=float)
    return arr.reshape(len(values), -1)


def _tidy(bound: float, delta: float) -> float:
    # float summation order can put a bound a rounding error past the point estimate (all resamples equal)
    return delta if math.isclose(bound, delta, rel_tol=1e-12, abs_tol=1e-12) else float(bound)
