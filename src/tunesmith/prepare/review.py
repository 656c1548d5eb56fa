"""What a person reviews after `data prepare`: every record a step changed, and every record a step flagged.

    changes.jsonl   one row per (step, record) whose texts the step changed: the step, the record id, the
                    changed texts before and after ({slot: text}, slots named as steps name fields:
                    system, instruction, input, output, turns[i].content, rejected), and, with `output.diffs`, a
                    unified diff per slot
    flagged.jsonl   one row per flag a step set on a record it kept (`Step.flag`): step, reason, detail,
                    id and the record as it left the stage

Capturing changes must not slow the steps down, so it trusts the steps' own `stats.changed` counter
(the contract: a step that modifies a record counts it there). `ChangeTracker` keeps the texts of every
record at the stage's start (a tuple of string references: no copies) and looks again only at the
records whose step raised the counter; only changed records are stored, and diffs are made when the
shard's file is written, in the worker. A step that runs on whole batches (`apply_batch`) has every
record compared when it counted any change.

Per shard, the worker writes `NNNNNN.changes.jsonl` and `NNNNNN.flagged.jsonl` (`work.Shard.save`) before
the shard's stats file (which marks it done, so a resumed run finds them), and the stats carry a deterministic
sample of the changes (the lowest hashes of step and id: the same for any number of workers or
shards) for the report's diffs. `gather_review` joins the pieces, in stage and shard order.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from tunesmith.io import atomic_path
from tunesmith.records.example import Example

CHANGES_SAMPLE = 20        # changes per step shown with their diffs in the report
CONTEXT_CHARS = 300        # the instruction shown next to a change of other texts, cut to this length


def texts_of(example: Example) -> tuple:
    """Every text slot of a record, positionally: (system, turn 0 content, turn 0 input, turn 1 ..., and a
    preference pair's rejected answer last)."""
    turns = example.turns
    if len(turns) == 2 and example.rejected is None:  # the common Alpaca shape, without building a list
        a, b = turns
        return example.system, a.content, a.input, b.content, b.input
    slots = (example.system, *[x for t in turns for x in (t.content, t.input)])
    return slots if example.rejected is None else slots + (example.rejected.content,)


_PAIR_NAMES = ["system", "instruction", "input", "output", "turns[1].input"]


def slot_names(example: Example, n_slots: int) -> list[str]:
    """Names for `texts_of` positions, in the vocabulary of the steps' `fields` option where it fits."""
    if example.rejected is not None:
        return slot_names(Example(example.turns, example.system), n_slots - 1) + ["rejected"]
    turns = example.turns
    if n_slots == 5 and len(turns) == 2 and turns[0].role == "user" and turns[1].role == "assistant":
        return _PAIR_NAMES
    last_user = max((i for i, t in enumerate(example.turns) if t.role == "user"), default=None)
    last_answer = max((i for i, t in enumerate(example.turns) if t.role == "assistant"), default=None)
    names = ["system"]
    for i in range((n_slots - 1) // 2):
        names.append("instruction" if i == last_user else "output" if i == last_answer else f"turns[{i}].content")
        names.append("input" if i == last_user else f"turns[{i}].input")
    return names[:n_slots]


def change_row(label: str, example: Example, before: tuple, after: tuple) -> dict:
    """One changes.jsonl row: only the slots whose text differs."""
    n = max(len(before), len(after))
    names = slot_names(example, n)
    old, new = {}, {}
    for i in range(n):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        if a != b:
            old[names[i]], new[names[i]] = b, a
    row = {"step": label, "id": example.meta.get("id"), "before": old, "after": new}
    if "instruction" not in old:
        turns = example.turns
        instruction = turns[0].content if len(turns) == 2 and turns[0].role == "user" else example.instruction
        row["instruction"] = instruction if len(instruction) <= CONTEXT_CHARS else instruction[:CONTEXT_CHARS] + " …"
    return row


class ChangeTracker:
    """The texts of one batch's live records, step after step, and the changes found between steps."""

    def __init__(self, examples: list[Example]) -> None:
        self.texts = [texts_of(e) for e in examples]
        self.at: list[int] | None = None           # each live record's position in the batch (None: i is i)
        self.found: list[tuple[int, int, dict]] = []   # (position, step number, row)
        self.steps = 0

    @property
    def rows(self) -> list[dict]:
        """The changes in record order, then step order: the same rows in the same order however the
        records were split into batches."""
        return [row for _, _, row in sorted(self.found, key=lambda f: f[:2])]

    def after_step(self, label: str, results: list, touched: list[int] | None, dropped: bool) -> None:
        """`results[i]` is what the step made of live record i; `touched` the indexes whose step counted a
        change (None: compare every record); `dropped`: some results are Drops, which leave the tracker."""
        from tunesmith.prepare.steps.base import Drop

        texts, step = self.texts, self.steps
        self.steps += 1
        for i in (range(len(results)) if touched is None else touched):
            result = results[i]
            if isinstance(result, Drop):
                continue
            now = texts_of(result)
            if now != texts[i]:
                at = i if self.at is None else self.at[i]
                self.found.append((at, step, change_row(label, result, texts[i], now)))
                texts[i] = now
        if dropped:
            live = [i for i, r in enumerate(results) if not isinstance(r, Drop)]
            self.texts = [texts[i] for i in live]
            self.at = live if self.at is None else [self.at[i] for i in live]


def flag_rows(kept: list[Example], step_names: set[str]) -> list[dict]:
    """flagged.jsonl rows for the flags the stage's steps set on its kept records (flags from an earlier
    stage are found again and removed when the run's file is gathered)."""
    rows = []
    for example in kept:
        flags = example.meta.get("flags")
        if not flags:
            continue
        record = None
        for flag in flags:
            if isinstance(flag, dict) and flag.get("step") in step_names:
                record = record or example.to_dict()
                rows.append({"step": flag["step"], "reason": flag.get("reason", ""), "detail": flag.get("detail", ""),
                             "id": example.meta.get("id"), "record": record})
    return rows


def sample_key(row: dict) -> int:
    return zlib.crc32(f"{row['step']}\t{row['id']}".encode("utf-8", "surrogatepass"))


def changes_sample(rows: list[dict], k: int = CHANGES_SAMPLE) -> dict[str, list[dict]]:
    """Per step, the `k` changes with the lowest `sample_key`: a sample that does not depend on sharding."""
    import heapq

    by_step: dict[str, list[dict]] = {}
    for row in rows:
        by_step.setdefault(row["step"], []).append(row)
    return {step: heapq.nsmallest(k, found, key=sample_key) for step, found in by_step.items()}


def merge_samples(into: dict[str, list[dict]], more: dict[str, list[dict]], k: int = CHANGES_SAMPLE) -> None:
    import heapq

    for step, rows in more.items():
        into[step] = heapq.nsmallest(k, into.get(step, []) + rows, key=sample_key)


def gather_review(shards: list, out_dir: Path, changes: bool) -> tuple[int, int]:
    """Join the review files of `shards` (every stage's `work.Shard`s, in stage and shard order) into
    changes.jsonl and flagged.jsonl in `out_dir`, atomically. Returns (changes, flags). With `changes` off,
    a changes.jsonl left by an earlier run is removed so that it cannot be taken for this run's."""
    n_changes = n_flags = 0
    target = out_dir / "changes.jsonl"
    if changes:
        with atomic_path(target) as tmp, open(tmp, "wb") as out:
            for shard in shards:
                piece = shard.path("changes.jsonl")
                if piece.is_file():
                    data = piece.read_bytes()
                    n_changes += data.count(b"\n")
                    out.write(data)
    else:
        target.unlink(missing_ok=True)
    seen: set = set()
    with atomic_path(out_dir / "flagged.jsonl") as tmp, open(tmp, "w", encoding="utf-8", errors="backslashreplace") as out:
        for shard in shards:
            piece = shard.path("flagged.jsonl")
            if not piece.is_file():
                continue
            with open(piece, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    key = (row["step"], row["reason"], row["detail"], row["id"])
                    if key not in seen:
                        seen.add(key)
                        out.write(line)
                        n_flags += 1
    return n_changes, n_flags
