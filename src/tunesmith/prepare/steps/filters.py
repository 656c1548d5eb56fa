"""Record filters that need no model: `length` here; `quality` (quality.py) and `meta` (meta.py) have
their own modules, and `machine_text` too."""

from __future__ import annotations

from pydantic import Field

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.meta import MetaExpression, MetaOptions, MetaStep
from tunesmith.prepare.steps.quality import QualityOptions, QualityStep


class LengthOptions(StepOptions):
    min_chars: int = Field(1, ge=0, description="Drop records whose chosen texts have fewer characters in total.")
    max_chars: int | None = Field(None, ge=1, description="Drop records with more characters (null = no limit).")


@register
class LengthStep(Step):
    """Drop records outside a character-count range."""

    name = "length"
    Options = LengthOptions

    def apply(self, example: Example) -> Example | Drop:
        o = self.options
        if example.rejected is None:
            n = sum(len(t.strip()) for t in read_texts(example, o.fields))
        else:  # a pair is as long as its longer side (the prompt with one answer), not as both answers
            n = max(sum(len(t.strip()) for t in read_texts(view, o.fields))
                    for view in (Example(example.turns, example.system), example.with_answer(example.rejected)))
        if n < o.min_chars:
            return Drop("too_short", f"{n} characters < {o.min_chars}")
        if o.max_chars is not None and n > o.max_chars:
            return Drop("too_long", f"{n} characters > {o.max_chars}")
        return example


__all__ = ["LengthOptions", "LengthStep", "MetaExpression", "MetaOptions", "MetaStep", "QualityOptions",
           "QualityStep"]
