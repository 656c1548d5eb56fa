"""Text-overlap metrics for generated answers: BLEU-4, ROUGE-1/2/L and exact match.

Scores are on a 0-100 scale. Text is cut into words before counting: Chinese (and any text with CJK
characters) with jieba, everything else into words and punctuation marks by a regex. Splitting
Chinese on spaces would make a whole sentence one "word", so any two different answers would share
nothing; splitting it into single characters would reward answers that only share common characters.

BLEU follows sacrebleu's definition on pre-cut tokens (geometric mean of clipped 1..4-gram
precisions times the brevity penalty; a zero n-gram count is smoothed with the "exp" method), so
`corpus_bleu` matches `sacrebleu.corpus_bleu(..., tokenize="none")` on the same tokens. ROUGE is the
F1 of n-gram overlap (ROUGE-1/2) and of the longest common subsequence (ROUGE-L), averaged over samples.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_jieba = None


def _segmenter():
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" chatter is not for our users
        _jieba = jieba
    return _jieba


def words(text: str) -> list[str]:
    """The tokens metrics count: NFKC-normalised, lower-cased, jieba for CJK text, no whitespace."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    if _CJK.search(text):
        return [w for w in _segmenter().lcut(text) if w.strip()]
    return _WORDS.findall(text)


def normalize_answer(text: str) -> str:
    """For exact match: NFKC, lower case, inner whitespace collapsed, edge whitespace and end punctuation off."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = " ".join(text.split())
    return text.strip(" .。!！?？,，;；:：\"'“”‘’")


def exact_match(prediction: str, reference: str) -> float:
    return 100.0 if normalize_answer(prediction) == normalize_answer(reference) else 0.0


# ----------------------------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------------------------

@dataclass
class BleuStats:
    """Sufficient statistics: BLEU over many samples is computed from the summed counts."""
    correct: list[int]
    total: list[int]
    hyp_len: int
    ref_len: int

    def __add__(self, other: "BleuStats") -> "BleuStats":
        return BleuStats([a + b for a, b in zip(self.correct, other.correct)],
                         [a + b for a, b in zip(self.total, other.total)],
                         self.hyp_len + other.hyp_len, self.ref_len + other.ref_len)

    def score(self) -> float:
        if self.hyp_len == 0 or not any(self.correct):
            return 0.0  # no n-gram of any order matches: smoothing must not invent a score
        smooth = 1.0
        log_sum = 0.0
        for correct, total in zip(self.correct, self.total):
            if total == 0:
                return 0.0  # a hypothesis shorter than n words has no n-gram precision at all
            if correct == 0:
                smooth *= 2
                precision = 1.0 / (smooth * total)
            else:
                precision = correct / total
            log_sum += math.log(precision)
        bp = 1.0 if self.hyp_len >= self.ref_len else math.exp(1 - self.ref_len / self.hyp_len)
        return 100.0 * bp * math.exp(log_sum / len(self.correct))


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu_stats(hyp: Sequence[str], ref: Sequence[str], max_n: int = 4) -> BleuStats:
    correct, total = [], []
    for n in range(1, max_n + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        correct.append(sum(min(c, r[g]) for g, c in h.items()))
        total.append(max(len(hyp) - n + 1, 0))
    return BleuStats(correct, total, len(hyp), len(ref))


def corpus_bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """BLEU-4 over a corpus of pre-cut token lists (one reference per hypothesis)."""
    stats = BleuStats([0] * 4, [0] * 4, 0, 0)
    for h, r in zip(hyps, refs, strict=True):
        stats = stats + bleu_stats(h, r)
    return stats.score()


def sentence_bleu(hyp: Sequence[str], ref: Sequence[str]) -> float:
    return bleu_stats(hyp, ref).score()


# ----------------------------------------------------------------------------------------------
# ROUGE
# ----------------------------------------------------------------------------------------------

def _f1(overlap: int, hyp_count: int, ref_count: int) -> float:
    if overlap == 0 or hyp_count == 0 or ref_count == 0:
        return 0.0
    p, r = overlap / hyp_count, overlap / ref_count
    return 100.0 * 2 * p * r / (p + r)


def rouge_n(hyp: Sequence[str], ref: Sequence[str], n: int) -> float:
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    return _f1(sum((h & r).values()), sum(h.values()), sum(r.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyp: Sequence[str], ref: Sequence[str]) -> float:
    return _f1(lcs_length(hyp, ref), len(hyp), len(ref))


# ----------------------------------------------------------------------------------------------
# All of them
# ----------------------------------------------------------------------------------------------

METRIC_NAMES = ("bleu4", "rouge1", "rouge2", "rougeL", "exact_match")
LABELS = {"bleu4": "BLEU-4", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
          "exact_match": "exact match"}   # as the report names them


def sample_scores(prediction: str, reference: str) -> dict[str, float]:
    """Per-sample scores (BLEU here is sentence BLEU; the corpus score is computed from summed counts)."""
    h, r = words(prediction), words(reference)
    return {"bleu4": sentence_bleu(h, r), "rouge1": rouge_n(h, r, 1), "rouge2": rouge_n(h, r, 2),
            "rougeL": rouge_l(h, r), "exact_match": exact_match(prediction, reference)}


def score_samples(predictions: Sequence[str], references: Sequence[str]) -> tuple[list[dict[str, float]],
                                                                                 list[BleuStats]]:
    """Per-sample scores and BLEU counts, each text cut into words once. `corpus` turns them into the
    corpus scores; the bootstrap in tunesmith.evaluate.bootstrap resamples exactly these parts."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scores, stats = [], []
    for p, ref in zip(predictions, references):
        h, r = words(p), words(ref)
        stats.append(bleu_stats(h, r))
        scores.append({"bleu4": stats[-1].score(), "rouge1": rouge_n(h, r, 1), "rouge2": rouge_n(h, r, 2),
                       "rougeL": rouge_l(h, r), "exact_match": exact_match(p, ref)})
    return scores, stats


def corpus(scores: Sequence[dict[str, float]], stats: Sequence[BleuStats]) -> dict[str, float]:
    """Corpus BLEU-4 (from the summed counts), mean ROUGE-1/2/L F1 and exact-match rate, all 0-100."""
    if not scores:
        return {name: 0.0 for name in METRIC_NAMES}
    total = BleuStats([0] * 4, [0] * 4, 0, 0)
    for s in stats:
        total = total + s
    out = {"bleu4": total.score()}
    out.update({name: sum(s[name] for s in scores) / len(scores) for name in METRIC_NAMES if name != "bleu4"})
    return out


def score_all(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4, mean ROUGE-1/2/L F1 and exact-match rate, all 0-100."""
    return corpus(*score_samples(predictions, references))
