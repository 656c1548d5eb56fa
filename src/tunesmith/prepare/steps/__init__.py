"""The data steps, by the name a pipeline config uses: `{step: clean, ...}` -> `STEPS["clean"]`.

Record steps (`Step`) see one record at a time and stream; whole-set steps (`SetStep`, dedup) see every
record that survived the steps before them. Each class names its options (`Options`, a pydantic
model), which the pipeline config validates. To add a step: write the class, add it here.
Heavy dependencies (models, tokenizers, OpenCC) are imported when a step is built, not here.
"""

from __future__ import annotations

from tunesmith.prepare.steps.base import Drop, SetStep, Step, StepOptions, StepStats
from tunesmith.prepare.steps.clean import CleanStep
from tunesmith.prepare.steps.filters import LengthStep, MetaStep, QualityStep
from tunesmith.prepare.steps.language import LanguageStep
from tunesmith.prepare.steps.machine_text import MachineTextStep
from tunesmith.prepare.steps.model_filters import PerplexityStep, TokenLengthStep
from tunesmith.prepare.steps.pii import PiiStep
from tunesmith.prepare.steps.safety import SafetyStep

STEPS: dict[str, type] = {
    "clean": CleanStep,
    "length": LengthStep,
    "token_length": TokenLengthStep,
    "language": LanguageStep,
    "quality": QualityStep,
    "machine_text": MachineTextStep,
    "perplexity": PerplexityStep,
    "meta": MetaStep,
    "pii": PiiStep,
    "safety": SafetyStep,
    # whole-set steps (dedup_exact, dedup_near, dedup_semantic) are added below by their module
}


def register(cls: type) -> type:
    """Add a step class under its `name` (usable as a decorator)."""
    STEPS[cls.name] = cls
    return cls


import tunesmith.prepare.steps.dedup  # noqa: E402,F401  registers dedup_exact, dedup_near, dedup_semantic


def build(options: StepOptions) -> Step | SetStep:
    """The step object for validated options (see `tunesmith.prepare.config.step_options`)."""
    return STEPS[options.step](options)


__all__ = ["STEPS", "Drop", "SetStep", "Step", "StepOptions", "StepStats", "build", "register"]
