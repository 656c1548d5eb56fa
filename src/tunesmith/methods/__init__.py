"""Fine-tuning methods, one module each, every one registering itself (`base.register`):

| method   | module          | what trains                                   | the run saves |
| -------- | --------------- | --------------------------------------------- | ------------- |
| full     | full            | every weight                                  | model/        |
| freeze   | freeze          | the chosen decoder layers / modules only      | model/        |
| lora     | lora            | low-rank adapters (PEFT LoraConfig)           | adapter/      |
| qlora    | lora            | LoRA on a 4-bit NF4 base (bitsandbytes)       | adapter/      |
| dora     | lora            | weight-decomposed LoRA (use_dora=True)        | adapter/      |
| prefix   | prompt_learning | key/value prefixes in every layer             | adapter/      |
| prompt   | prompt_learning | virtual token embeddings before the input     | adapter/      |
| ptuning  | prompt_learning | virtual tokens from a small prompt encoder    | adapter/      |
| ia3      | ia3             | learned rescaling vectors                     | adapter/      |
| adalora  | adalora         | LoRA whose ranks are pruned during training   | adapter/      |

Each method's options are its own pydantic class; `options_type()` is their union, discriminated on
`name`, which RunConfig's `method:` block is (a missing name means lora). Everything else asks the
method (`get(name)`): no module outside this package names a method.

    model = methods.apply(model, cfg.method, MethodContext(total_steps=1000, tokenizer_path=...))
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter
from torch import nn

# Each module registers its methods on import; this order is the registry's (the order users see).
from tunesmith.methods import full  # noqa: F401,I001
from tunesmith.methods import freeze  # noqa: F401
from tunesmith.methods import lora  # noqa: F401
from tunesmith.methods import prompt_learning  # noqa: F401
from tunesmith.methods import ia3  # noqa: F401
from tunesmith.methods import adalora  # noqa: F401
from tunesmith.methods.base import (DEFAULT, REGISTRY, Method, MethodContext, MethodOptions, count_parameters,
                                    describe, get, linear_names, names, register, resolve_targets)
from tunesmith.methods.quant import check_4bit_backward

__all__ = ["DEFAULT", "LIGHTER", "REGISTRY", "Method", "MethodContext", "MethodOptions", "apply", "check_4bit_backward",
           "count_parameters", "describe", "for_adapter", "get", "linear_names", "mergeable_labels", "names",
           "options", "options_type", "register", "resolve_targets", "switch", "with_default_name",
           "written_before_the_union"]

# The methods `tunesmith estimate` suggests when a run does not fit the memory it is given.
LIGHTER = ("lora", "qlora")


def apply(model: nn.Module, opts: MethodOptions, ctx: MethodContext = MethodContext()) -> nn.Module:
    """The model with exactly the method's parameters trainable (a PeftModel for adapter methods)."""
    return get(opts.name).apply(model, opts, ctx)


def option_classes() -> list[type[MethodOptions]]:
    """One options class per group of names, in registry order (lora, qlora and dora share one)."""
    return list(dict.fromkeys(m.options for m in REGISTRY.values()))


def options_type():
    """The `method:` block's type: the options classes, discriminated on `name`."""
    return Annotated[Union[tuple(option_classes())], Field(discriminator="name")]


def with_default_name(value):
    """A `method:` mapping without a name means the default method, as before the union."""
    if isinstance(value, dict) and "name" not in value:
        return {"name": DEFAULT, **value}
    return value


def written_before_the_union(block):
    """A `method:` block as tunesmith wrote it into run folders (config.yaml, checkpoints) before each
    method had its own options: every method's keys, in every run. Returns only the keys of its own
    method; a key no method has stays, so a typo is still an error."""
    if not isinstance(block, dict):
        return block
    block = with_default_name(block)
    if block["name"] not in REGISTRY:
        return block
    own = get(block["name"]).options.model_fields
    known = {key for cls in option_classes() for key in cls.model_fields}
    return {k: v for k, v in block.items() if k in own or k not in known}


def options(**settings) -> MethodOptions:
    """The options of `settings["name"]` (default lora): `options(name="lora", r=4)`."""
    return TypeAdapter(options_type()).validate_python(with_default_name(settings))


def switch(opts: MethodOptions, name: str) -> MethodOptions:
    """`opts` as method `name`: the keys both methods have carry over, the others take their defaults."""
    keep = get(name).options.model_fields
    return options(**{k: v for k, v in opts.model_dump().items() if k in keep and k != "name"}, name=name)


def for_adapter(peft_config) -> Method | None:
    """The method that writes adapters like this PeftConfig (the first in registry order), if any."""
    return next((m for m in REGISTRY.values() if m.matches_adapter(peft_config)), None)


def mergeable_labels() -> str:
    """'LoRA, DoRA, AdaLoRA and IA3': the adapters `tunesmith merge` folds in."""
    labels = list(dict.fromkeys(m.label for m in REGISTRY.values() if m.merges))
    return ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)
