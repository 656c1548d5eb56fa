"""One run of consecutive record steps over a batch of records: the unit every engine executes.

`run_records(options, items)` is a plain function of picklable inputs and outputs, so the local
runner calls it in worker processes and a Ray engine can call it on a batch (`map_batches`). Steps are
built once per process and cached by their options; stats are reset per batch so each batch's counts
can be saved with its shard and summed later.

A record that makes a step raise is rejected with the exception text as its reason detail; the other
records of the batch go on. A ConfigError is the config's fault, not the record's (a meta expression
that compares a text field with a number): it stops the run, naming the first record's file:line.

With `changes=True` the batch also records what each step changed in the records it kept, and every
batch records the flags its steps set (review.py: changes.jsonl, flagged.jsonl).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, StepStats

# Length histogram bins (characters per record, every text together): powers of two up to 64k.
LENGTH_BINS = [0] + [2 ** i for i in range(3, 17)]


def length_bin(n: int) -> int:
    """Index of the bin holding `n` characters (the last bin is open-ended)."""
    if n < 8:
        return 0
    return min(int(math.log2(n)) - 2, len(LENGTH_BINS) - 1)


def record_chars(example: Example) -> int:
    return sum(map(len, example.text_list(_ALL)))


_ALL = ("all",)


def rejected_row(step: str, drop: Drop, record: dict) -> dict:
    """One line of rejected.jsonl."""
    row = {"step": step, "reason": drop.reason, "detail": drop.detail}
    if drop.twin is not None:
        row["twin"] = drop.twin
    row["record"] = record
    return row


def unwritable_row(example: Example, to: str) -> dict | None:
    """The `write` reject for `example` when output format `to` cannot hold it, else None."""
    from tunesmith.records import formats

    why = formats.unwritable(example, to)
    return rejected_row("write", Drop("unwritable", f"{to}: {why}"), example.to_dict()) if why else None


def step_labels(options: list[StepOptions]) -> list[str]:
    """Names for the report: the step name, with #2, #3 ... when a step type appears again."""
    seen: Counter = Counter()
    labels = []
    for o in options:
        seen[o.step] += 1
        labels.append(o.step if seen[o.step] == 1 else f"{o.step}#{seen[o.step]}")
    return labels


@dataclass
class BatchResult:
    kept: list[Example]
    rejected: list[dict]
    stats: dict[str, StepStats]
    lengths_in: Counter = field(default_factory=Counter)   # length bin -> records entering the batch
    changes: list[dict] | None = None      # changes.jsonl rows (None: changes were not recorded)
    flagged: list[dict] = field(default_factory=list)      # flagged.jsonl rows

    def to_json(self) -> dict:
        out = {"stats": {k: v.to_dict() for k, v in self.stats.items()},
               "lengths_in": {str(k): v for k, v in self.lengths_in.items()},
               "kept": len(self.kept), "rejected": len(self.rejected)}
        if self.changes:
            from tunesmith.prepare.review import changes_sample

            out["changes_sample"] = changes_sample(self.changes)
        return out


def stats_from_json(d: dict) -> StepStats:
    return StepStats(seen=d["seen"], kept=d["kept"], changed=d["changed"],
                     dropped=Counter(d["dropped"]), flagged=Counter(d.get("flagged", {})),
                     counts=Counter(d["counts"]))


class RecordStage:
    """Consecutive record steps, built from their options, applied batch by batch."""

    def __init__(self, options: list[StepOptions], labels: list[str] | None = None) -> None:
        from tunesmith.prepare.steps import build

        self.labels = labels or step_labels(options)
        self.steps: list[Step] = [build(o) for o in options]

    def run(self, examples: list[Example], changes: bool = False) -> BatchResult:
        """The steps over `examples`, in order; with `changes`, what each step changed is recorded too."""
        from tunesmith.prepare.review import ChangeTracker, flag_rows

        rejected: list[dict] = []
        stats: dict[str, StepStats] = {}
        alive = examples
        tracker = ChangeTracker(examples) if changes else None
        for label, step in zip(self.labels, self.steps):
            step.stats = stepstats = StepStats()
            if tracker is None:
                results = self._apply(step, alive)
            else:
                results, touched = self._apply_tracked(step, alive)
                if touched is None and not stepstats.changed:
                    touched = []  # a batch step that counted no change: nothing to compare
            survivors = []
            for example, result in zip(alive, results):
                if isinstance(result, Drop):  # Step.count, inlined: this loop runs per record and step
                    stepstats.dropped[result.reason] += 1
                    rejected.append(rejected_row(label, result, example.to_dict()))
                else:
                    survivors.append(result)
            if tracker is not None:
                tracker.after_step(label, results, touched, dropped=len(survivors) != len(results))
            stepstats.seen += len(results)
            stepstats.kept += len(survivors)
            stats[label] = stepstats
            alive = survivors
        flagged = []
        if any(s.flagged for s in stats.values()):
            flagged = flag_rows(alive, {step.name for step in self.steps})
        return BatchResult(alive, rejected, stats, changes=tracker.rows if tracker else None, flagged=flagged)

    def _apply_tracked(self, step: Step, examples: list[Example]) -> tuple[list[Example | Drop], list[int] | None]:
        """`_apply`, and the indexes of the records whose step counted a change (`stats.changed`, which
        every step that modifies a record raises); None for a batch step, whose records are all compared."""
        if type(step).apply_batch is not Step.apply_batch and examples:
            return self._apply(step, examples), None
        touched: list[int] = []
        return self._apply(step, examples, touched), touched

    @staticmethod
    def _apply(step: Step, examples: list[Example], touched: list[int] | None = None) -> list[Example | Drop]:
        """The step over `examples`; with `touched`, the indexes of records it counted as changed go there."""
        if type(step).apply_batch is not Step.apply_batch and examples:
            try:
                results = step.apply_batch(examples)
                if len(results) == len(examples):
                    return results
            except Exception:  # find the record that breaks it: one batch of one per record, below
                return [_guarded(step, e, batch=True) for e in examples]
        apply, stats, out = step.apply, step.stats, []
        for i, example in enumerate(examples):  # _guarded, inlined for the common case that nothing raises
            mark = stats.changed
            try:
                result = apply(example)
            except Exception as e:  # a record must never kill the run: reject it with the reason
                result = _error_drop(e)
            else:
                if not isinstance(result, (Example, Drop)):
                    result = _wrong_type(result)
            out.append(result)
            if touched is not None and stats.changed != mark:
                touched.append(i)
        return out


def _guarded(step: Step, example: Example, batch: bool = False) -> Example | Drop:
    try:
        result = step.apply_batch([example])[0] if batch else step.apply(example)
    except Exception as e:  # a record must never kill the run: reject it with the reason
        return _error_drop(e)
    if not isinstance(result, (Example, Drop)):
        return _wrong_type(result)
    return result


def _error_drop(e: Exception) -> Drop:
    from tunesmith.errors import ConfigError

    if isinstance(e, ConfigError):  # the config does not fit the data (meta: a text field compared with 3):
        raise e                     # no record is to blame, so the run stops at the first one, saying where
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return Drop("error", f"{type(e).__name__}: {text}" if text else type(e).__name__)


def _wrong_type(result) -> Drop:
    return Drop("error", f"step returned {type(result).__name__}, not an Example or Drop")


# Steps are expensive to build (automata, language model, tokenizer): one set per process.
_CACHE: dict[str, RecordStage] = {}


def stage_for(options: list[StepOptions]) -> RecordStage:
    key = json.dumps([o.model_dump(mode="json") for o in options], sort_keys=True)
    stage = _CACHE.get(key)
    if stage is None:
        _CACHE.clear()
        stage = _CACHE[key] = RecordStage(options)
    return stage


def run_records(options: list[StepOptions], items: list, changes: bool = False) -> BatchResult:
    """Apply the record steps `options` to `items` (Examples, or BadRecords from the reader); with
    `changes`, record what each step changed (`BatchResult.changes`).

    BadRecords become `read` rejects in place, so a shard's rejects keep the input order.
    """
    from tunesmith.records.formats import BadRecord

    lengths: Counter = Counter()
    examples: list[Example] = []
    read_rejects: list[dict] = []
    for item in items:
        if isinstance(item, BadRecord):
            read_rejects.append({"step": "read", "reason": "unreadable", "detail": item.reason,
                                 "record": {"raw": item.to_dict()["raw"], "meta": {"source": item.source,
                                                                                  "line": item.line}}})
            continue
        lengths[length_bin(record_chars(item))] += 1
        examples.append(item)
    result = (stage_for(options).run(examples, changes) if options
              else BatchResult(examples, [], {}, changes=[] if changes else None))
    result.rejected = read_rejects + result.rejected
    result.lengths_in = lengths
    return result
