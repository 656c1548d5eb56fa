"""Fine-tuning methods: one registry entry per method, each a mapping from `MethodConfig` to PEFT.

    model = methods.apply(model, cfg.method, MethodContext(total_steps=1000, tokenizer_path=...))

| method   | what trains                                   | the run saves |
| -------- | --------------------------------------------- | ------------- |
| full     | every weight                                  | model/        |
| freeze   | the chosen decoder layers / modules only      | model/        |
| lora     | low-rank adapters (PEFT LoraConfig)           | adapter/      |
| qlora    | LoRA on a 4-bit NF4 base (bitsandbytes)       | adapter/      |
| dora     | weight-decomposed LoRA (use_dora=True)        | adapter/      |
| prefix   | key/value prefixes in every layer             | adapter/      |
| prompt   | virtual token embeddings before the input     | adapter/      |
| ptuning  | virtual tokens from a small prompt encoder    | adapter/      |
| ia3      | learned rescaling vectors                     | adapter/      |
| adalora  | LoRA whose ranks are pruned during training   | adapter/      |

PEFT does the adapter work; nothing here re-implements it. What lives here is what PEFT leaves to
its caller: refusing an unknown target module before any work, counting what trains, and making
`generate()` honour prompt-learning adapters (see `fix_prompt_learning_generate`).
"""

from __future__ import annotations

import difflib
import types
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from tunesmith.errors import ConfigError
from tunesmith.runs.config import MethodConfig

PROMPT_LEARNING = ("prefix", "prompt", "ptuning")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class MethodContext:
    """What some methods need beyond their own config block."""
    total_steps: int = 1                 # AdaLoRA schedules its rank pruning over the run
    tokenizer_path: str | None = None    # prompt tuning initialised from text tokenizes it


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    saves: str                                                   # "adapter" or "model"
    peft_config: Callable[[nn.Module, MethodConfig, MethodContext], object] | None = None
    packing: bool = True                                         # prompt learning prepends tokens: no packing
    needs_4bit: bool = False


def get(name: str) -> Method:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        raise ConfigError(f"unknown method.name '{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
                          f"methods: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def apply(model: nn.Module, cfg: MethodConfig, ctx: MethodContext = MethodContext()) -> nn.Module:
    """The model with exactly the method's parameters trainable (a PeftModel for adapter methods)."""
    method = get(cfg.name)
    if cfg.name == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if cfg.name == "freeze":
        return _freeze(model, cfg)
    from peft import get_peft_model, prepare_model_for_kbit_training

    if method.needs_4bit or getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        # Casts norms to fp32 and makes the frozen quantized base feed gradients to the adapters.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    with warnings.catch_warnings():
        # peft 0.21 asks transformers 5 a deprecated question; the user can do nothing about it.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, method.peft_config(model, cfg, ctx))
    if cfg.name in PROMPT_LEARNING:
        fix_prompt_learning_generate(peft_model)
    return peft_model


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


# ---------------------------------------------------------------------------------------------
# Target modules
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# config -> PEFT config, one function per method
# ---------------------------------------------------------------------------------------------

def _lora(model, cfg: MethodConfig, ctx: MethodContext, **extra):
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=resolve_targets(model, cfg.target_modules), use_rslora=cfg.rslora, **extra)


def _dora(model, cfg, ctx):
    return _lora(model, cfg, ctx, use_dora=True)


def _adalora(model, cfg: MethodConfig, ctx: MethodContext):
    from peft import AdaLoraConfig

    if cfg.target_r > cfg.r:
        raise ConfigError(f"method.target_r={cfg.target_r} is above the initial rank method.r={cfg.r}",
                          "AdaLoRA prunes ranks down: set target_r <= r")
    steps = max(int(ctx.total_steps), 1)
    # Warm up on the full rank for the first 10% of steps, prune until 30% before the end, then hold
    # the final ranks: the schedule of the AdaLoRA paper's experiments, scaled to this run.
    tinit, tfinal = steps // 10, (3 * steps) // 10
    if tinit + tfinal >= steps:
        tinit, tfinal = 0, 0
    return AdaLoraConfig(task_type="CAUSAL_LM", init_r=cfg.r, target_r=cfg.target_r, lora_alpha=cfg.alpha,
                         lora_dropout=cfg.dropout, target_modules=resolve_targets(model, cfg.target_modules),
                         total_step=steps, tinit=tinit, tfinal=tfinal, deltaT=1)


def _ia3(model, cfg: MethodConfig, ctx):
    from peft import IA3Config

    targets = resolve_targets(model, cfg.target_modules)
    # IA3 scales the *input* of feed-forward layers and the output of the others.
    feedforward = [t for t in targets if t in MLP_MODULES]
    return IA3Config(task_type="CAUSAL_LM", target_modules=targets, feedforward_modules=feedforward)


def _prefix(model, cfg: MethodConfig, ctx):
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens,
                              prefix_projection=cfg.prefix_projection, encoder_hidden_size=cfg.encoder_hidden_size)


def _prompt(model, cfg: MethodConfig, ctx: MethodContext):
    from peft import PromptTuningConfig, PromptTuningInit

    if cfg.prompt_init_text:
        if not ctx.tokenizer_path:
            raise ConfigError("method.prompt_init_text needs the model's tokenizer folder")
        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=cfg.prompt_init_text,
                                  tokenizer_name_or_path=ctx.tokenizer_path)
    return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens)


def _ptuning(model, cfg: MethodConfig, ctx):
    from peft import PromptEncoderConfig

    return PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens,
                               encoder_hidden_size=cfg.encoder_hidden_size)


def _freeze(model: nn.Module, cfg: MethodConfig) -> nn.Module:
    layers = _decoder_layers(model)
    n = len(layers)
    chosen = set()
    for i in cfg.trainable_layers:
        if not -n <= i < n:
            raise ConfigError(f"method.trainable_layers: layer {i} does not exist (the model has {n} layers)",
                              f"use 0..{n - 1}, or negative numbers counting from the end (-1 = last)")
        chosen.add(i % n)
    for p in model.parameters():
        p.requires_grad_(False)
    for i in chosen:
        for p in layers[i].parameters():
            p.requires_grad_(True)
    for fragment in cfg.trainable_modules:
        hits = [p for name, p in model.named_parameters() if fragment in name]
        if not hits:
            raise ConfigError(f"method.trainable_modules: no parameter name contains '{fragment}'",
                              "examples: lm_head, model.norm, embed_tokens")
        for p in hits:
            p.requires_grad_(True)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("method freeze: nothing left to train", "set method.trainable_layers or trainable_modules")
    return model


def _decoder_layers(model: nn.Module) -> nn.ModuleList:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError("method freeze: cannot find the decoder layers (model.model.layers)",
                          "freeze supports Llama-family models; use method.trainable_modules to name parameters")
    return layers


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("full", "every weight trains", "model"),
    Method("freeze", "only the chosen decoder layers / modules train", "model"),
    Method("lora", "low-rank adapters on the target modules", "adapter", _lora),
    Method("qlora", "LoRA on a 4-bit NF4 quantized base", "adapter", _lora, needs_4bit=True),
    Method("dora", "weight-decomposed low-rank adapters", "adapter", _dora),
    Method("prefix", "trained key/value prefixes in every layer", "adapter", _prefix, packing=False),
    Method("prompt", "trained virtual token embeddings before the input", "adapter", _prompt, packing=False),
    Method("ptuning", "virtual tokens from a trained prompt encoder", "adapter", _ptuning, packing=False),
    Method("ia3", "learned rescaling of activations", "adapter", _ia3),
    Method("adalora", "LoRA with ranks pruned by importance during training", "adapter", _adalora),
)}


# ---------------------------------------------------------------------------------------------
# generate() for prompt-learning adapters
# ---------------------------------------------------------------------------------------------

def fix_prompt_learning_generate(peft_model) -> None:
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


# ---------------------------------------------------------------------------------------------
# QLoRA off CUDA
# ---------------------------------------------------------------------------------------------

def check_4bit_backward(model: nn.Module, atol: float = 1e-4) -> None:
    """Refuse QLoRA where bitsandbytes' 4-bit backward is wrong (it warns that it may be, off CUDA).

    For the first 4-bit layer, the gradient of a random input through the quantized layer must
    equal the gradient through a plain linear layer holding the dequantized weight; otherwise the
    adapters would learn from wrong gradients, silently.
    """
    import bitsandbytes as bnb

    layer = next((m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)), None)
    if layer is None:
        return
    weight = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, weight.shape[1], generator=gen).to(layer.weight.device)
    x_q = x.clone().to(layer.compute_dtype or torch.float32).requires_grad_(True)
    x_d = x.clone().requires_grad_(True)
    grad_out = torch.randn(3, weight.shape[0], generator=gen).to(x.device)
    (layer(x_q).float() * grad_out).sum().backward()
    (nn.functional.linear(x_d, weight) * grad_out).sum().backward()
    if x_q.grad is None:  # seen on AVX512-BF16 CPUs: no gradient reaches the layer's input at all
        raise ConfigError(f"method qlora: bitsandbytes' 4-bit backward on {x.device.type} is wrong here "
                          "(no gradient reaches the input of a 4-bit layer, so every layer below it would "
                          "learn from wrong gradients)",
                          "run QLoRA on a CUDA GPU, or use method.name=lora with model.load_in_4bit=false")
    err = (x_q.grad.float() - x_d.grad).abs().max().item()
    scale = x_d.grad.abs().max().item()
    if not err <= atol * max(scale, 1.0) * 10:
        raise ConfigError(
            f"method qlora: bitsandbytes' 4-bit backward on {x.device.type} is wrong here "
            f"(input-gradient error {err:.3g} vs the dequantized layer)",
            "run QLoRA on a CUDA GPU, or use method.name=lora with model.load_in_4bit=false")
