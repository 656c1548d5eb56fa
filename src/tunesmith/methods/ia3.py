"""`ia3`: learned rescaling vectors on the target modules (PEFT's IA3Config); the run saves adapter/."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.methods.base import Method, MethodOptions, peft_wrap, register, resolve_targets

MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


class IA3Options(MethodOptions):
    name: Literal["ia3"] = Field("ia3", description="Fine-tuning method: ia3 (learned rescaling of activations).")
    target_modules: list[str] | str = Field("all-linear", description=(
        "Modules that get adapters: all-linear, or names such as [q_proj, v_proj]."))


@register
class IA3(Method):
    name = "ia3"
    summary = "learned rescaling of activations"
    options = IA3Options
    merges = True
    peft_type = "IA3"
    label = "IA3"

    def apply(self, model, opts: IA3Options, ctx):
        from peft import IA3Config

        targets = resolve_targets(model, opts.target_modules)
        # IA3 scales the *input* of feed-forward layers and the output of the others.
        feedforward = [t for t in targets if t in MLP_MODULES]
        return peft_wrap(model, IA3Config(task_type="CAUSAL_LM", target_modules=targets,
                                          feedforward_modules=feedforward))
