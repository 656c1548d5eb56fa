"""Checks that run before any real work: every problem a user can fix is one line, before minutes are spent.

`check_before_loading` needs only the config (CUDA-only features on a CPU, combinations that cannot
work, a run folder that would be overwritten); `check_after_loading` needs the model (QLoRA's
4-bit backward off CUDA). Target modules and templates are checked where they are used, also
before any step: methods.resolve_targets and train.data.build.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

from tunesmith.errors import ConfigError
from tunesmith import methods
from tunesmith.train.objectives import check as check_objective
from tunesmith.runs.config import RunConfig

log = logging.getLogger(__name__)


def resolve(cfg: RunConfig) -> RunConfig:
    """Settings implied by others, made explicit so config.yaml says what really ran."""
    cfg = cfg.model_copy(deep=True)
    methods.get(cfg.method.name).resolve(cfg)  # QLoRA: model.load_in_4bit=true
    return cfg


def check_before_loading(cfg: RunConfig, d, run, resume, overwrite: bool) -> Path | None:
    """Raise ConfigError for what cannot work; return the checkpoint to resume from, if any."""
    device = d.device
    method = methods.get(cfg.method.name)
    tc = cfg.train
    cuda_only = []
    if tc.precision == "fp16" and device.type != "cuda":
        cuda_only.append(("train.precision=fp16", "use train.precision=bf16 or fp32 on this machine"))
    if cfg.model.attn_implementation == "flash_attention_2" and device.type != "cuda":
        cuda_only.append(("model.attn_implementation=flash_attention_2", "use sdpa"))
    if cfg.model.dtype == "fp16" and device.type != "cuda" and tc.precision != "fp32":
        cuda_only.append(("model.dtype=fp16", "training fp16 weights needs CUDA: use model.dtype=bf16 or fp32"))
    for what, hint in cuda_only:
        raise ConfigError(f"{what} needs a CUDA GPU, and this machine has none", hint)
    method.check(cfg, d)  # the rules about the method: quantized bases, packing, AdaLoRA's ranks, FSDP
    if tc.packing and cfg.model.attn_implementation == "flash_attention_2" and tc.packing_attention == "block_mask":
        raise ConfigError("train.packing_attention=block_mask needs a 4D mask, which flash_attention_2 does not take",
                          "use train.packing_attention=position_ids (flash-attention varlen)")
    if d.enabled and cfg.model.device_map:
        raise ConfigError("model.device_map splits one model over GPUs; under torchrun each process holds its own",
                          "set model.device_map=null with torchrun")
    if d.enabled and tc.distributed == "fsdp" and (cfg.model.load_in_4bit or cfg.model.load_in_8bit):
        raise ConfigError("FSDP with a bitsandbytes-quantized base is not supported here", "use train.distributed=ddp")
    check_objective(cfg)  # method x objective, packing with pairs (train.objectives)
    point = _resume_point(run, resume, overwrite, d)
    if point is not None:
        state = json.loads((point / "state.json").read_text())
        check_resumable(cfg, state)
        if state.get("world_size", 1) != d.world_size:
            raise ConfigError(f"--resume: the checkpoint was written by {state.get('world_size', 1)} processes, "
                              f"this run has {d.world_size}", "resume with the same number of processes")
    return point


def _resume_point(run, resume, overwrite: bool, d) -> Path | None:
    if resume:
        if resume is True or resume == "auto":
            latest = run.latest_checkpoint()
            if latest is None:
                raise ConfigError(f"--resume: no checkpoint in {run.checkpoints}",
                                  "checkpoints are written every train.save_every steps and on Ctrl-C")
            return latest
        path = Path(resume)
        if not (path / "state.json").is_file():
            raise ConfigError(f"--resume {resume}: not a checkpoint folder", f"give one of {run.checkpoints}/step-N")
        return path
    if run.latest_checkpoint() is not None or run.finished():
        if not overwrite:
            raise ConfigError(f"{run.root} already holds a run",
                              "continue it with --resume, start over with --overwrite, or set output_dir")
        if d.main:
            for part in (run.checkpoints, run.adapter, run.model, run.tokenizer, run.tensorboard):
                shutil.rmtree(part, ignore_errors=True)
        if d.enabled:
            torch.distributed.barrier()
    return None


def check_resumable(cfg: RunConfig, state: dict) -> None:
    """A checkpoint continues only the run that wrote it: data, method and optimisation must match."""
    import yaml

    from tunesmith.config import to_yaml

    then, now = yaml.safe_load(state["config"]), yaml.safe_load(to_yaml(cfg, comments=False))
    if isinstance(then.get("method"), dict):  # written before each method had its own keys: it held every method's
        then["method"] = methods.written_before_the_union(then["method"])
    try:  # a key added since the checkpoint was written (train.objective) counts as its default
        then = yaml.safe_load(to_yaml(RunConfig.model_validate(then), comments=False))
    except ValueError:
        pass  # a key that is gone or invalid now: compared as written, so the message names it
    free = {"log_every", "eval_every", "save_every", "keep_checkpoints"}
    for block in ("model", "data", "template", "method", "train"):
        for key in sorted(set(then.get(block, {})) | set(now.get(block, {}))):
            if block == "train" and key in free:
                continue
            if then.get(block, {}).get(key) != now.get(block, {}).get(key):
                raise ConfigError(f"--resume: {block}.{key} was {then[block].get(key)!r} in the checkpoint, "
                                  f"now {now[block].get(key)!r}",
                                  "resume with the config the run started with (it is in the run's config.yaml)")
    if then.get("seed") != now.get("seed"):
        raise ConfigError(f"--resume: seed was {then.get('seed')}, now {now.get('seed')}", "use the run's seed")


def check_after_loading(cfg: RunConfig, model, d) -> None:
    if cfg.model.load_in_4bit and d.device.type != "cuda":
        methods.check_4bit_backward(model)
        log.info("4-bit backward verified against the dequantized weights on %s", d.device)
