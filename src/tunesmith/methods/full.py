"""`full`: every weight trains; the run saves the whole model in model/."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.methods.base import Method, MethodOptions, register


class FullOptions(MethodOptions):
    name: Literal["full"] = Field("full", description="Fine-tuning method: full (every weight trains).")


@register
class Full(Method):
    name = "full"
    summary = "every weight trains"
    options = FullOptions
    saves = "model"

    def apply(self, model, opts, ctx):
        for p in model.parameters():
            p.requires_grad_(True)
        return model
