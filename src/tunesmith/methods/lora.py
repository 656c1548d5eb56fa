"""The LoRA family: `lora`, `qlora` (LoRA on a 4-bit NF4 base), `dora` (weight-decomposed), each with
optional rank-stabilised scaling (`rslora: true`). PEFT's LoraConfig does the work; the run saves adapter/.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.errors import ConfigError
from tunesmith.methods.base import Method, MethodOptions, peft_wrap, register, resolve_targets


class LowRankOptions(MethodOptions):
    """The keys LoRA and AdaLoRA share."""
    r: int = Field(8, gt=0, description="LoRA/DoRA/QLoRA/AdaLoRA rank (AdaLoRA: the initial rank).")
    alpha: float = Field(16, description="LoRA scaling numerator (scale = alpha / r, or alpha / sqrt(r) with rslora).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | str = Field("all-linear", description=(
        "Modules that get adapters: all-linear, or names such as [q_proj, v_proj]."))


class LoraOptions(LowRankOptions):
    name: Literal["lora", "qlora", "dora"] = Field("lora", description=(
        "Fine-tuning method: lora, qlora (LoRA on a 4-bit NF4 base) or dora (weight-decomposed LoRA)."))
    rslora: bool = Field(False, description="Rank-stabilised LoRA scaling.")


def dropout_overhead(opts: LowRankOptions, hidden: int, intermediate: int) -> int:
    """Dropout makes a new input tensor for each adapted module (all-linear)."""
    return 6 * hidden + intermediate if opts.dropout > 0 else 0


@register
class Lora(Method):
    name = "lora"
    summary = "low-rank adapters on the target modules"
    options = LoraOptions
    merges = True
    peft_type = "LORA"
    label = "LoRA"
    use_dora = False

    def apply(self, model, opts: LoraOptions, ctx):
        from peft import LoraConfig

        config = LoraConfig(task_type="CAUSAL_LM", r=opts.r, lora_alpha=opts.alpha, lora_dropout=opts.dropout,
                            target_modules=resolve_targets(model, opts.target_modules), use_rslora=opts.rslora,
                            **({"use_dora": True} if self.use_dora else {}))
        return peft_wrap(model, config, quantized=self.quantized_base)

    def activation_overhead(self, opts, hidden, intermediate):
        return dropout_overhead(opts, hidden, intermediate)

    def matches_adapter(self, config) -> bool:
        return super().matches_adapter(config) and bool(getattr(config, "use_dora", False)) == self.use_dora


@register
class QLora(Lora):
    name = "qlora"
    summary = "LoRA on a 4-bit NF4 quantized base"
    quantized_base = True
    needs_cuda = True

    def resolve(self, cfg):
        if not cfg.model.load_in_4bit:
            cfg.model.load_in_4bit = True

    def check(self, cfg, dist):
        super().check(cfg, dist)
        if cfg.model.load_in_8bit:
            raise ConfigError("method.name=qlora means a 4-bit base; model.load_in_8bit=true conflicts",
                              "set model.load_in_8bit=false")


@register
class Dora(Lora):
    name = "dora"
    summary = "weight-decomposed low-rank adapters"
    label = "DoRA"
    use_dora = True

    def activation_overhead(self, opts, hidden, intermediate):
        # DoRA also keeps the base output for its magnitude rescaling
        return super().activation_overhead(opts, hidden, intermediate) + 6 * hidden + intermediate
