"""Prompt learning: `prefix` (key/value prefixes in every layer), `prompt` (virtual token embeddings
before the input), `ptuning` (virtual tokens from a small prompt encoder). The base weights never
change, so these adapters do not merge, and packing is off (the virtual tokens sit in front of a row).

PEFT does the adapter work. What lives here is what PEFT leaves to its caller: making `generate()`
honour the adapter (see `fix_generate`), applied at training time and whenever a run is reloaded.
"""

from __future__ import annotations

import types
from typing import Literal

import torch
from pydantic import Field

from tunesmith.errors import ConfigError
from tunesmith.methods.base import Method, MethodOptions, peft_wrap, register


class PromptLearningOptions(MethodOptions):
    num_virtual_tokens: int = Field(20, gt=0, description="Prefix, prompt and p-tuning: virtual tokens.")


class PrefixOptions(PromptLearningOptions):
    name: Literal["prefix"] = Field("prefix", description=(
        "Fine-tuning method: prefix (trained key/value prefixes in every layer)."))
    prefix_projection: bool = Field(False, description=(
        "Prefix tuning: learn the prefix through a two-layer MLP (the paper's reparameterisation) instead of directly."))
    encoder_hidden_size: int = Field(128, gt=0, description=(
        "Prefix tuning with prefix_projection: hidden size of the projection MLP."))


class PromptOptions(PromptLearningOptions):
    name: Literal["prompt"] = Field("prompt", description=(
        "Fine-tuning method: prompt (trained virtual token embeddings before the input)."))
    prompt_init_text: str | None = Field(None, description="Prompt tuning: initialise from this text (null = random).")


class PtuningOptions(PromptLearningOptions):
    name: Literal["ptuning"] = Field("ptuning", description=(
        "Fine-tuning method: ptuning (virtual tokens from a trained prompt encoder)."))
    encoder_hidden_size: int = Field(128, gt=0, description="P-tuning: hidden size of the prompt encoder MLP.")


class PromptLearning(Method):
    packing = False

    def apply(self, model, opts, ctx):
        peft_model = peft_wrap(model, self.peft_config(opts, ctx))
        fix_generate(peft_model)
        return peft_model

    def peft_config(self, opts, ctx):
        raise NotImplementedError

    def for_inference(self, model):
        fix_generate(model)
        return model

    def virtual_tokens(self, opts):
        return opts.num_virtual_tokens

    def merge_refusal(self):
        return ("it adds learned virtual tokens / key-value prefixes in front of the input, not changes to the "
                "weights, so there is nothing to fold into them",
                "use the run folder as it is (tunesmith chat/serve/eval RUN), or train with lora, dora or ia3 "
                "for a mergeable adapter")


@register
class Prefix(PromptLearning):
    name = "prefix"
    summary = "trained key/value prefixes in every layer"
    options = PrefixOptions
    peft_type = "PREFIX_TUNING"
    label = "prefix tuning"

    def peft_config(self, opts: PrefixOptions, ctx):
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=opts.num_virtual_tokens,
                                  prefix_projection=opts.prefix_projection,
                                  encoder_hidden_size=opts.encoder_hidden_size)


@register
class Prompt(PromptLearning):
    name = "prompt"
    summary = "trained virtual token embeddings before the input"
    options = PromptOptions
    peft_type = "PROMPT_TUNING"
    label = "prompt tuning"

    def peft_config(self, opts: PromptOptions, ctx):
        from peft import PromptTuningConfig, PromptTuningInit

        # Counting parameters (shapes_only) needs no tokenizer: the init text changes no shape.
        if opts.prompt_init_text and not ctx.shapes_only:
            if not ctx.tokenizer_path:
                raise ConfigError("method.prompt_init_text needs the model's tokenizer folder")
            return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=opts.num_virtual_tokens,
                                      prompt_tuning_init=PromptTuningInit.TEXT,
                                      prompt_tuning_init_text=opts.prompt_init_text,
                                      tokenizer_name_or_path=ctx.tokenizer_path)
        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=opts.num_virtual_tokens)


@register
class Ptuning(PromptLearning):
    name = "ptuning"
    summary = "virtual tokens from a trained prompt encoder"
    options = PtuningOptions
    peft_type = "P_TUNING"
    label = "p-tuning"

    def peft_config(self, opts: PtuningOptions, ctx):
        from peft import PromptEncoderConfig

        return PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=opts.num_virtual_tokens,
                                   encoder_hidden_size=opts.encoder_hidden_size)


# ---------------------------------------------------------------------------------------------
# generate() for prompt-learning adapters
# ---------------------------------------------------------------------------------------------

def fix_generate(peft_model) -> None:
    """Make `peft_model.generate()` use the trained prefix / virtual tokens.

    With peft 0.21 and transformers 5.x, PEFT's generation hook looks for `past_key_values` while
    transformers now passes `cache`: a prefix-tuned model generates as if it had no prefix, and a
    prompt-tuned one re-inserts its virtual tokens at every decoding step. The forward pass is right,
    so training is unaffected; generation is what users see. We generate through the base model
    with the adapter's contribution supplied up front, exactly as the forward pass applies it:
    prefix tuning as a pre-filled KV cache (positions start after the prefix), prompt tuning and
    p-tuning as input embeddings with the virtual tokens in front (positions start at 0).
    """
    peft_model.generate = types.MethodType(_prompt_learning_generate, peft_model)


def _prompt_learning_generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                              **kwargs):
    from peft import PeftType

    if input_ids is None or "inputs_embeds" in kwargs or "past_key_values" in kwargs or "cache" in kwargs:
        raise ValueError("generate() on a prompt-learning adapter takes input_ids (and attention_mask) only")
    config = self.active_peft_config
    base = self.get_base_model()
    batch, virtual = input_ids.shape[0], config.num_virtual_tokens
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    prefix_mask = torch.ones(batch, virtual, dtype=attention_mask.dtype, device=attention_mask.device)
    mask = torch.cat([prefix_mask, attention_mask], dim=1)
    if config.peft_type == PeftType.PREFIX_TUNING:
        cache = self.get_prompt(batch_size=batch)
        # input_ids shorter than the mask tells transformers they are all new tokens after the cache.
        return base.generate(input_ids=input_ids, attention_mask=mask, cache=cache, **kwargs)
    prompts = self.get_prompt(batch_size=batch).to(base.get_input_embeddings().weight.dtype)
    embeds = torch.cat([prompts, base.get_input_embeddings()(input_ids)], dim=1)
    new_tokens = base.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
    # With only embeddings given, generate returns the new tokens; keep generate()'s usual contract.
    return torch.cat([input_ids, new_tokens.to(input_ids.device)], dim=1)
