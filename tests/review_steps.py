"""Test steps for tests/test_pipeline_review.py, in their own module so that spawned worker processes
find them: each step's options are an Options class of this module, so unpickling them in a worker
imports it, and a worker (only a worker: the test process registers them per test with monkeypatch)
adds the steps to STEPS on import."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tunesmith.prepare.steps import STEPS, Drop, Step, StepOptions


class ShoutingOptions(StepOptions):
    """Module-level, so that a worker can unpickle them."""


class Shouting(Step):
    """Test step: upper-cases an output that asks for it, and counts the change as steps must."""
    name = "shouting"
    Options = ShoutingOptions

    def apply(self, example):
        turn = example.turns[-1]
        if "shout" in turn.content:
            turn.content = turn.content.upper()
            self.stats.changed += 1
        return example


class DoubtingOptions(StepOptions):
    """Module-level, so that a worker can unpickle them."""


class Doubting(Step):
    """Test step: keeps a record that says "maybe" and flags it (a rule that cannot tell)."""
    name = "doubting"
    Options = DoubtingOptions

    def apply(self, example):
        if "maybe" in example.output.lower():
            self.flag(example, "unsure", "says maybe")
        return example


class VanishingOptions(StepOptions):
    """Module-level, so that a worker can unpickle them."""


class Vanishing(Step):
    """Test step: drops what asks to vanish."""
    name = "vanishing"
    Options = VanishingOptions

    def apply(self, example):
        return Drop("asked_to") if "VANISH" in example.output else example


class JoiningLinesOptions(StepOptions):
    """Module-level, so that a worker can unpickle them."""


class JoiningLines(Step):
    """Test batch step: joins the lines of every output in one call over the batch (loses newlines)."""
    name = "joining_lines"
    Options = JoiningLinesOptions

    def apply_batch(self, examples):
        for e in examples:
            if "\n" in e.turns[-1].content:
                e.turns[-1].content = e.turns[-1].content.replace("\n", " ")
                self.stats.changed += 1
        return examples

    def apply(self, example):
        return self.apply_batch([example])[0]


class InterruptingOptions(StepOptions):
    """Module-level, so that a worker can unpickle them."""


class Interrupting(Step):
    """Test step: stops the run on the "Poem" record (the last) while the trigger file exists."""
    name = "interrupting_review"
    Options = InterruptingOptions
    trigger: Path | None = None

    def apply(self, example):
        if example.instruction == "Poem" and self.trigger is not None and self.trigger.exists():
            raise KeyboardInterrupt
        return example


TEST_STEPS = (Shouting, Doubting, Vanishing, JoiningLines, Interrupting)

if multiprocessing.parent_process() is not None:
    for _cls in TEST_STEPS:
        STEPS.setdefault(_cls.name, _cls)
