"""What every data step is: a small named object that keeps or drops one record, and counts why.

A step is called on one `Example` and returns the (possibly changed) example, or a `Drop` that says
why it goes. Steps that must see the whole data set at once (de-duplication) are `SetStep`s: they
take the list of survivors and return, for each record, keep or a `Drop` naming its kept twin.

Stats are plain counters so that worker processes can return them and the runner can add them up.

Every step class names its options as a pydantic `StepOptions` subclass (`Options`); the pipeline
config validates each `{step: name, ...}` item against it, so a mistyped key is refused with a
"did you mean" before any record is read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from pydantic import Field

from tunesmith.config import Section
from tunesmith.records.example import Example, FieldName


class StepOptions(Section):
    """Keys every step takes. A step class subclasses this with its own keys, each with a description."""
    step: str = Field(description="The step type (see `tunesmith data prepare --list-steps`).")
    fields: list[FieldName] = Field(default_factory=lambda: ["all"], description=(
        "Texts the step reads or changes: system, instruction, input, output, or all (every turn)."))


def read_texts(example: Example, fields) -> list[str]:
    """`example.texts(fields)` as a list (steps call this on every record: see `Example.text_list`)."""
    return example.text_list(fields)


def map_texts(example: Example, fn, fields) -> Example:
    """`example.map_text(fn, fields)`, with the same direct walk for `all`."""
    if "all" not in fields:
        return example.map_text(fn, fields)
    if example.system:
        example.system = fn(example.system)
    for turn in example.turns:
        if turn.content:
            turn.content = fn(turn.content)
        if turn.input:
            turn.input = fn(turn.input)
    if example.rejected is not None and example.rejected.content:  # a pair's other answer (Example.text_list)
        example.rejected.content = fn(example.rejected.content)
    return example


@dataclass(frozen=True)
class Drop:
    """A record leaves the data set: `reason` is a short stable key, `detail` says the specifics."""
    reason: str
    detail: str = ""
    twin: str | None = None  # for de-duplication: the id of the record that was kept instead


@dataclass
class StepStats:
    seen: int = 0
    kept: int = 0
    changed: int = 0                                   # records a step modified (cleaning, masking)
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    flagged: Counter = field(default_factory=Counter)  # reason -> records kept but flagged for review
    counts: Counter = field(default_factory=Counter)   # step-specific tallies: PII types found, ...

    def add(self, other: "StepStats") -> None:
        self.seen += other.seen
        self.kept += other.kept
        self.changed += other.changed
        self.dropped.update(other.dropped)
        self.flagged.update(other.flagged)
        self.counts.update(other.counts)

    def to_dict(self) -> dict:
        return {"seen": self.seen, "kept": self.kept, "changed": self.changed,
                "dropped": dict(self.dropped), "flagged": dict(self.flagged), "counts": dict(self.counts)}


class Step:
    """One record in, one record or a Drop out. Subclasses implement `apply`.

    A step may also override `apply_batch` when it is faster over many records at once (a model
    forward pass); the runner calls it per shard and falls back to `apply` per record if it raises,
    so that one bad record is rejected alone.
    """

    name: ClassVar[str] = "step"
    Options: ClassVar[type[StepOptions]] = StepOptions

    def __init__(self, options: StepOptions | None = None) -> None:
        self.options = options if options is not None else self.Options(step=self.name)
        self.stats = StepStats()

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        return [self.apply(e) for e in examples]

    def count(self, result: Example | Drop) -> Example | Drop:
        """Add one result of `apply`/`apply_batch` to the stats (the runner calls this)."""
        self.stats.seen += 1
        if isinstance(result, Drop):
            self.stats.dropped[result.reason] += 1
        else:
            self.stats.kept += 1
        return result

    def apply(self, example: Example) -> Example | Drop:  # pragma: no cover - abstract
        raise NotImplementedError

    def flag(self, example: Example, reason: str, detail: str = "") -> Example:
        """Keep `example` but mark it for review: a rule that cannot tell keeps and flags, never drops.

        The flag travels with the record in `meta["flags"]` (written out with it, so a reviewer can
        grep the output) and is counted by reason in the step's stats and the report.
        """
        flags = example.meta.setdefault("flags", [])
        flags.append({"step": self.name, "reason": reason, "detail": detail})
        self.stats.flagged[reason] += 1
        return example

    def __call__(self, example: Example) -> Example | Drop:
        return self.count(self.apply(example))


class SetStep:
    """A step that decides over the whole set (dedup). Returns one entry per input record.

    `map(fn, [args, ...])` runs independent batches of its work (signing, embedding) and yields their
    results in order: None runs them here; the engine passes its own (`engine: ray`: Ray tasks). What the
    last `decide` found for a person to audit (dedup: each cluster) comes back from `audit()`.
    """

    name: ClassVar[str] = "set-step"
    Options: ClassVar[type[StepOptions]] = StepOptions

    def __init__(self, options: StepOptions | None = None, map: Callable | None = None) -> None:
        self.options = options if options is not None else self.Options(step=self.name)
        self.stats = StepStats()
        self.map = map

    def decide(self, examples: list[Example]) -> list[Drop | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def audit(self) -> list[dict] | None:
        """Rows that explain the last `decide`, which the run writes to clusters.jsonl (an empty list: an
        empty file); None for a step that keeps no audit."""
        return None

    def __call__(self, examples: list[Example]) -> list[Drop | None]:
        decisions = self.decide(examples)
        self.stats.seen += len(examples)
        for d in decisions:
            if d is None:
                self.stats.kept += 1
            else:
                self.stats.dropped[d.reason] += 1
        return decisions
