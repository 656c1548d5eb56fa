"""The schema of one fine-tuning run: `tunesmith train run.yaml` reads it, and the run folder keeps
the resolved copy as `config.yaml`, so that chat, eval, serve, merge and export use exactly the model,
template and method the run was trained with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tunesmith import methods
from tunesmith.config import ModelConfig, Section
from tunesmith.text.templates import TEMPLATE_NAMES

TemplateName = Literal[TEMPLATE_NAMES]


class DataConfig(Section):
    train: list[str] = Field(default_factory=list, description=(
        "Training files (json, jsonl, csv, parquet; alpaca, sharegpt, messages or Human/Assistant text)."))
    format: str = Field("auto", description="Record format: auto (detected per file), alpaca, sharegpt, messages, "
                                            "conversation, csv.")
    val: list[str] = Field(default_factory=list, description="Validation files; empty = split off `val_split`.")
    val_split: float = Field(0.0, ge=0.0, lt=1.0, description="Share of the training records held out for validation "
                                                              "when `val` is empty (0 = no validation).")
    skip_bad: bool = Field(True, description="Skip records that cannot be read (each is reported with file:line); "
                                             "false stops at the first one.")


class TemplateConfig(Section):
    name: TemplateName = Field("auto", description=(
        "Chat template: auto (the tokenizer's own), alpaca, llama2 ([INST] <<SYS>>), llama2-zh\n"
        "(<s>Human: ...\\n</s><s>Assistant: ...\\n</s>) or chatml. Chat models: use the template they were tuned with."))
    system: str | None = Field(None, description="System prompt for records that have none (null = none).")
    max_seq_len: int = Field(1024, gt=8, description="Longest rendered sample in tokens.")
    train_on: Literal["all", "last"] = Field("all", description="Train on every assistant turn, or only the last one.")
    truncation: Literal["drop", "cut_oldest"] = Field(
        "cut_oldest", description="Too-long samples: drop them, or cut the oldest turns (the end token is never cut).")


# The `method:` block: each method's own options class (tunesmith.methods), chosen by `name`.
MethodConfig = methods.options_type()


class TrainConfig(Section):
    epochs: float = Field(1.0, gt=0, description="Passes over the training data (fractions allowed).")
    max_steps: int | None = Field(None, description="Stop after this many optimizer steps (overrides epochs).")
    micro_batch_size: int = Field(4, gt=0, description="Samples per forward pass.")
    grad_accum: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    lr: float = Field(2e-4, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of the steps spent warming up linearly.")
    scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warmup.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping (0 = off).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="Autocast precision: auto (bf16 on a GPU that has it, else fp32).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    packing: bool = Field(False, description="Pack several samples per row; attention never crosses samples.")
    packing_attention: Literal["auto", "block_mask", "position_ids"] = Field("auto", description=(
        "How packed rows keep samples apart: block_mask (a block-diagonal 4D mask; sdpa/eager, any device),\n"
        "position_ids (per-sample positions only; the kernel cuts at each restart: flash_attention_2 varlen,\n"
        "flex_attention, or sdpa through transformers' packed-sequence detection), auto (position_ids for\n"
        "flash_attention_2/flex_attention, else block_mask)."))
    group_by_length: bool = Field(True, description="Batch samples of similar length to waste less padding.")
    neftune_alpha: float | None = Field(None, description="NEFTune noise on embeddings (e.g. 5); null = off.")
    eval_every: int = Field(0, ge=0, description="Evaluate on the validation split every N steps (0 = at the end only).")
    save_every: int = Field(0, ge=0, description=(
        "Checkpoint every N steps (0 = none); Ctrl-C always saves one. The end writes the result, no checkpoint."))
    keep_checkpoints: int = Field(2, gt=0, description="Checkpoints to keep.")
    log_every: int = Field(1, gt=0, description="Log metrics every N steps.")
    fused_loss: bool = Field(True, description=(
        "Compute the loss without the full logits tensor: logits only at trained positions, a chunk at a\n"
        "time (less memory, less work on prompts and padding). Falls back to the plain path where it cannot\n"
        "apply (prompt learning, torchrun, an adapter on lm_head)."))
    distributed: Literal["ddp", "fsdp"] = Field("ddp", description=(
        "Under torchrun: ddp (a full copy per process) or fsdp (FSDP2: parameters, gradients and optimizer\n"
        "states sharded across processes). Ignored in a single process."))
    objective: Literal["sft", "dpo", "ipo", "simpo", "orpo"] = Field("sft", description=(
        "What the model learns: sft (imitate the answers) or, on preference pairs (a chosen and a rejected\n"
        "answer per prompt), dpo, ipo (both against a reference: the base with adapters off, or for full/freeze\n"
        "log-probs cached at step 0), simpo or orpo (no reference)."))
    beta: float = Field(0.1, gt=0, description=(
        "Preference objectives: dpo/ipo/simpo inverse temperature of the reward; orpo: weight of the odds-ratio term."))
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description=(
        "dpo/simpo: the assumed share of pairs labelled the wrong way round (conservative DPO); 0 = plain."))
    simpo_gamma: float = Field(0.5, ge=0, description="simpo: the target reward margin (gamma).")


class RunConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="The base model.")
    data: DataConfig = Field(default_factory=DataConfig, description="Training and validation data.")
    template: TemplateConfig = Field(default_factory=TemplateConfig, description="How records become tokens.")
    method: MethodConfig = Field(default_factory=methods.options, description="What is trained.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="The optimisation.")
    output_dir: str = Field("runs/run", description="The run folder (config, checkpoints, adapter or model, metrics).")
    seed: int = Field(42, description="Seed for data order, initialisation and dropout.")

    @field_validator("method", mode="before")
    @classmethod
    def _default_method(cls, value):
        return methods.with_default_name(value)  # `method: {r: 16}` is a LoRA block, as it always was
