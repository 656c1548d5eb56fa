"""What a fine-tuning method is, and the registry every method module adds itself to.

A method is one module under `tunesmith/methods/` holding a `Method` subclass and its options class,
registered with `@register` as peft's tuners register with `register_peft_method`. It owns all that is
true of it, so no other module names a method:

    method = methods.get(cfg.method.name)
    method.check(cfg, dist)                     # before anything loads: the rules about this method
    model = method.apply(model, cfg.method, MethodContext(total_steps=...))
    method.after_optimizer_step(model, step)    # AdaLoRA prunes ranks here
    method.saves                                # "adapter" or "model"

This module is a leaf (errors and the config base only), so the registry has no import circle. The
helpers every adapter method shares (target modules, counting what trains) live here too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field
from torch import nn

from tunesmith.config import Section
from tunesmith.errors import ConfigError


class MethodOptions(Section):
    """Base of each method's `method:` block. `name` is the discriminator of the union in RunConfig:
    every subclass narrows it to a Literal of the names it serves, so a block has only its own keys."""
    name: str = Field(description="Fine-tuning method.")


@dataclass(frozen=True)
class MethodContext:
    """What some methods need beyond their own config block."""
    total_steps: int = 1                 # AdaLoRA schedules its rank pruning over the run
    tokenizer_path: str | None = None    # prompt tuning initialised from text tokenizes it
    shapes_only: bool = False            # counting parameters (estimate): skip work that changes no shape


class Method:
    """One fine-tuning method. Subclasses set the class attributes and override what differs."""
    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[type[MethodOptions]]
    saves: ClassVar[str] = "adapter"          # "adapter" (adapter/ + tokenizer/) or "model" (model/)
    packing: ClassVar[bool] = True            # prompt learning prepends tokens: no packing
    quantized_base: ClassVar[bool] = False    # QLoRA: the base is loaded in 4-bit
    needs_cuda: ClassVar[bool] = False        # bitsandbytes' 4-bit backward is only trusted on CUDA
    merges: ClassVar[bool] = False            # `tunesmith merge` can fold the adapter into the weights
    peft_type: ClassVar[str | None] = None    # the PeftType value of the adapter it saves
    label: ClassVar[str] = ""                 # what merge reports call the adapter ("LoRA", "prefix tuning")

    def resolve(self, cfg: Any) -> None:
        """Make settings this method implies explicit in the (copied) RunConfig, so config.yaml says
        what really ran."""

    def check(self, cfg: Any, dist: Any) -> None:
        """Refuse, before anything loads, a RunConfig this method cannot train. `dist` has `enabled`."""
        if (cfg.model.load_in_4bit or cfg.model.load_in_8bit) and self.saves == "model":
            key = "model.load_in_4bit" if cfg.model.load_in_4bit else "model.load_in_8bit"
            raise ConfigError(f"method.name={self.name} cannot train a quantized model ({key}=true)",
                              "use method.name=qlora (or lora) on a quantized base, or set the key to false")
        if cfg.train.packing and not self.packing:
            raise ConfigError(f"train.packing=true does not work with method.name={self.name}: its virtual "
                              "tokens sit in front of the row, so only the first packed sample would see them",
                              "set train.packing=false (dynamic padding and group_by_length keep padding low)")

    def apply(self, model: nn.Module, opts: MethodOptions, ctx: MethodContext) -> nn.Module:
        """The model with exactly this method's parameters trainable (a PeftModel for adapters)."""
        raise NotImplementedError

    def after_optimizer_step(self, model: nn.Module, step: int) -> None:
        """Called with the unwrapped model after each optimizer step, before the gradients are zeroed."""

    def regulariser(self, model: nn.Module):
        """A loss term the method's PEFT forward adds only when labels reach it (AdaLoRA's orthogonality);
        the loop adds it where its loss bypasses that forward (the fused loss, preference objectives)."""
        return 0.0

    def checkpoint_state(self, model: nn.Module) -> dict | None:
        """State beyond the weights and the optimizer that an exact resume needs (None: nothing)."""
        return None

    def restore_state(self, model: nn.Module, state: dict) -> None:
        """Put back what `checkpoint_state` returned."""

    def for_inference(self, model: nn.Module) -> nn.Module:
        """The reloaded trained model, ready for generate()."""
        return model

    def activation_overhead(self, opts: MethodOptions, hidden: int, intermediate: int) -> int:
        """Activation elements per token per layer this method adds to the plain forward (estimate)."""
        return 0

    def virtual_tokens(self, opts: MethodOptions) -> int:
        """Positions the method puts in front of every sample (prompt learning)."""
        return 0

    def matches_adapter(self, peft_config) -> bool:
        """Whether a saved adapter's PeftConfig is one this method writes (merge reads adapters)."""
        return self.peft_type is not None and str(getattr(peft_config.peft_type, "value", peft_config.peft_type)) \
            == self.peft_type

    def merge_refusal(self) -> tuple[str, str]:
        """(why, what to do instead) when `merges` is false and someone asks to merge this adapter."""
        return "it changes no weights", "use the run folder as it is"


REGISTRY: dict[str, Method] = {}
DEFAULT = "lora"


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: one instance of `cls` serves `method.name == cls.name`."""
    if cls.name in REGISTRY:
        raise RuntimeError(f"method {cls.name} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Method:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        raise ConfigError(f"unknown method.name '{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
                          f"methods: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def names() -> list[str]:
    return list(REGISTRY)


# ---------------------------------------------------------------------------------------------
# Shared by the adapter methods
# ---------------------------------------------------------------------------------------------

def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total), counting 4-bit packed weights at their real size as PEFT does."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.__class__.__name__ == "Params4bit" else 1)
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total


def describe(model: nn.Module, name: str) -> str:
    trainable, total = count_parameters(model)
    return f"method {name}: {trainable:,} trainable parameters of {total:,} ({100 * trainable / max(total, 1):.4f}%)"


def linear_names(model: nn.Module) -> set[str]:
    """Short names (q_proj, down_proj, ...) of the linear layers adapters can attach to; lm_head excluded,
    as PEFT's all-linear does."""
    names = set()
    for full, module in model.named_modules():
        weight = getattr(module, "weight", None)
        is_linear = isinstance(module, nn.Linear) or "Linear" in type(module).__name__
        if is_linear and weight is not None and full and not full.endswith("lm_head"):
            names.add(full.rsplit(".", 1)[-1])
    return names


def resolve_targets(model: nn.Module, targets: list[str] | str) -> list[str]:
    """`all-linear` or a list of module names, each checked to exist in the model."""
    available = linear_names(model)
    if targets == "all-linear":
        return sorted(available)
    wanted = [targets] if isinstance(targets, str) else list(targets)
    if not wanted:
        raise ConfigError("method.target_modules is empty", "use all-linear or names such as [q_proj, v_proj]")
    for name in wanted:
        if name not in available:
            close = difflib.get_close_matches(name, sorted(available), n=1)
            raise ConfigError(
                f"method.target_modules: no module named '{name}' in this model"
                + (f" (did you mean '{close[0]}'?)" if close else ""),
                f"linear modules here: {', '.join(sorted(available))}; or use all-linear")
    return wanted


def peft_wrap(model: nn.Module, peft_config, quantized: bool = False) -> nn.Module:
    """get_peft_model, with a quantized base (or one the method says is, QLoRA) prepared first."""
    import warnings

    from peft import get_peft_model, prepare_model_for_kbit_training

    if quantized or getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        # Casts norms to fp32 and makes the frozen quantized base feed gradients to the adapters.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    with warnings.catch_warnings():
        # peft 0.21 asks transformers 5 a deprecated question; the user can do nothing about it.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, peft_config)
