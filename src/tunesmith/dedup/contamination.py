"""Contamination check: training records that duplicate (exactly or nearly) evaluation records.

    report = find_contamination(train_examples, {"mmlu.jsonl": eval_examples}, threshold=0.7)
    report.hits      # one Hit per contaminated training record: its id, the eval record, how alike

Texts compared are the chosen fields (by default the prompt: instruction + input, since an eval
question leaking into training is what inflates scores). Exact matching uses the dedup normaliser
(case, width, punctuation, whitespace, traditional/simplified folded); near matching uses the same
MinHash-LSH + exact Jaccard as `dedup_near`, keeping only train-eval pairs, so two training records
that resemble each other never count.

Jaccard alone misses a short eval question buried in a long training record (the sets differ in
size, so their Jaccard is small). The `criterion` chooses the near measure: `jaccard`, `containment`
(share of the eval record's shingles found in the training record, exact, from an inverted index of
the eval shingles: see dedup/containment.py), or `max` (the default: either at or above the
threshold). Containment only counts for eval records of at least `min_shingles` shingles: a
three-word instruction ("Translate to French") is contained in many innocent records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tunesmith.dedup.containment import overlaps
from tunesmith.dedup.exact import exact_keys
from tunesmith.dedup.keep import record_id, record_text
from tunesmith.dedup.near import NearDuplicates
from tunesmith.records.example import Example

DEFAULT_FIELDS = ("instruction", "input")
CRITERIA = ("max", "jaccard", "containment")
MIN_SHINGLES = 5


@dataclass
class Hit:
    train_index: int
    train_id: str
    eval_file: str
    eval_id: str
    method: str              # "exact" or "near"
    similarity: float
    measure: str = "identical"   # near hits: "jaccard" or "containment", whichever gave the similarity

    def to_dict(self) -> dict:
        return {"train_id": self.train_id, "eval_file": self.eval_file, "eval_id": self.eval_id,
                "method": self.method, "measure": self.measure, "similarity": round(self.similarity, 4)}


@dataclass
class ContaminationReport:
    train_records: int
    eval_records: dict[str, int]
    hits: list[Hit] = field(default_factory=list)

    def per_eval_file(self) -> dict[str, int]:
        out = {name: 0 for name in self.eval_records}
        for hit in self.hits:
            out[hit.eval_file] += 1
        return out

    def contaminated(self) -> set[int]:
        return {h.train_index for h in self.hits}

    def to_dict(self) -> dict:
        return {"train_records": self.train_records, "eval_records": self.eval_records,
                "contaminated": len(self.hits), "per_eval_file": self.per_eval_file(),
                "hits": [h.to_dict() for h in self.hits]}


def find_contamination(train: Sequence[Example], evals: dict[str, Sequence[Example]], method: str = "near",
                       threshold: float = 0.7, fields: Sequence[str] = DEFAULT_FIELDS, criterion: str = "max",
                       min_shingles: int = MIN_SHINGLES, **near_options) -> ContaminationReport:
    """Every training record that matches an evaluation record; exact matches win over near ones."""
    if method not in ("exact", "near"):
        raise ValueError(f"method must be exact or near, not {method!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, not {criterion!r}")
    eval_rows = [(name, i, e) for name, items in evals.items() for i, e in enumerate(items)]
    eval_texts = [record_text(e, fields) for _, _, e in eval_rows]
    train_texts = [record_text(e, fields) for e in train]
    report = ContaminationReport(len(train), {name: len(items) for name, items in evals.items()})
    best: dict[int, tuple[str, float, int, str]] = {}  # train index -> (method, similarity, eval row, measure)

    eval_key = {}
    for row, key in enumerate(exact_keys(eval_texts)):
        eval_key.setdefault(key, row)
    for i, key in enumerate(exact_keys(train_texts)):
        if key in eval_key and train_texts[i].strip():
            best[i] = ("exact", 1.0, eval_key[key], "identical")

    if method == "near" and eval_texts and train_texts:
        pairs, sims, measures = _near_pairs(eval_texts, train_texts, threshold, criterion, min_shingles, near_options)
        order = np.lexsort((-sims, pairs[:, 1]))
        for k in order.tolist():
            if sims[k] < threshold:
                continue
            e_row, t = int(pairs[k, 0]), int(pairs[k, 1])
            if t not in best or (best[t][0] == "near" and sims[k] > best[t][1]):
                best[t] = ("near", float(sims[k]), e_row, measures[k])

    for t in sorted(best):
        how, sim, e_row, measure = best[t]
        name, e_index, example = eval_rows[e_row]
        report.hits.append(Hit(t, record_id(train[t], t), name, record_id(example, e_index), how, sim, measure))
    return report


def _near_pairs(eval_texts, train_texts, threshold, criterion, min_shingles, near_options):
    """(pairs of (eval row, train index), similarity, measure name per pair) under `criterion`."""
    if criterion == "jaccard":  # MinHash-LSH proposes, the exact Jaccard decides (as dedup_near)
        n_eval = len(eval_texts)
        finder = NearDuplicates(threshold=threshold, **near_options)
        pairs, sims, _, _ = finder.pairs(eval_texts + train_texts,
                                         keep=lambda p: (p[:, 0] < n_eval) & (p[:, 1] >= n_eval))
        return pairs - np.array([0, n_eval]), sims, ["jaccard"] * len(sims)
    found = overlaps(eval_texts, train_texts, word_n=near_options.get("word_n", 3),
                     char_n=near_options.get("char_n", 5))
    contained = np.where(found.eval_sizes[found.pairs[:, 0]] >= min_shingles, found.containment(), 0.0)
    jaccard = found.jaccard() if criterion == "max" else np.zeros(len(contained))
    sims = np.maximum(contained, jaccard)
    measures = np.where(contained >= jaccard, "containment", "jaccard").tolist()
    return found.pairs, sims, measures
