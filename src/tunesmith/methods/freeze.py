"""`freeze`: only the chosen decoder layers (and named parameters) train; the run saves model/."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from tunesmith.errors import ConfigError
from tunesmith.methods.base import Method, MethodOptions, register


class FreezeOptions(MethodOptions):
    name: Literal["freeze"] = Field("freeze", description=(
        "Fine-tuning method: freeze (only the chosen decoder layers / modules train)."))
    trainable_layers: list[int] = Field(default_factory=lambda: [-2, -1], description=(
        "Freeze: the decoder layers to train (negative counts from the end)."))
    trainable_modules: list[str] = Field(default_factory=list, description=(
        "Freeze: extra parameter name fragments to train (e.g. lm_head, norm)."))


@register
class Freeze(Method):
    name = "freeze"
    summary = "only the chosen decoder layers / modules train"
    options = FreezeOptions
    saves = "model"

    def apply(self, model: nn.Module, opts: FreezeOptions, ctx) -> nn.Module:
        layers = _decoder_layers(model)
        n = len(layers)
        chosen = set()
        for i in opts.trainable_layers:
            if not -n <= i < n:
                raise ConfigError(f"method.trainable_layers: layer {i} does not exist (the model has {n} layers)",
                                  f"use 0..{n - 1}, or negative numbers counting from the end (-1 = last)")
            chosen.add(i % n)
        for p in model.parameters():
            p.requires_grad_(False)
        for i in chosen:
            for p in layers[i].parameters():
                p.requires_grad_(True)
        for fragment in opts.trainable_modules:
            hits = [p for name, p in model.named_parameters() if fragment in name]
            if not hits:
                raise ConfigError(f"method.trainable_modules: no parameter name contains '{fragment}'",
                                  "examples: lm_head, model.norm, embed_tokens")
            for p in hits:
                p.requires_grad_(True)
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError("method freeze: nothing left to train",
                              "set method.trainable_layers or trainable_modules")
        return model


def _decoder_layers(model: nn.Module) -> nn.ModuleList:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError("method freeze: cannot find the decoder layers (model.model.layers)",
                          "freeze supports Llama-family models; use method.trainable_modules to name parameters")
    return layers
