"""The data steps of `data prepare`.

Record steps (`Step`) see one record at a time and stream; whole-set steps (`SetStep`, dedup) see every
record that survived the steps before them. Each class names its options (`Options`, a pydantic
model), which the pipeline config validates, and registers itself by name (`registry.register`).
To add a step: write the class with `@register`, and import its module below (the order here is the
order `--list-steps` shows). Heavy dependencies (models, tokenizers, OpenCC) are imported when a step
is built, not here.
"""

from __future__ import annotations

from tunesmith.prepare.steps import clean, filters, language, machine_text, model_filters, pii, safety  # noqa: F401
from tunesmith.prepare.steps import dedup  # noqa: F401  whole-set steps: dedup_exact, dedup_near, dedup_semantic
from tunesmith.prepare.steps.base import Drop, SetStep, Step, StepOptions, StepStats
from tunesmith.prepare.steps.registry import STEPS, build, register

__all__ = ["STEPS", "Drop", "SetStep", "Step", "StepOptions", "StepStats", "build", "register"]
