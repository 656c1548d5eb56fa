"""Checkpoints for exact resume: a run resumed from step N ends with the same weights as one never stopped.

    checkpoints/step-N/
      trainable.safetensors   every parameter that trains (LoRA matrices, or the whole model for full)
      optimizer.pt            AdamW moments, keyed by parameter name (portable across world sizes)
      scheduler.pt            the learning-rate schedule's position
      extra.pt                AdaLoRA's importance scores, the fp16 loss scaler
      rng-rank{R}.pt          torch / CUDA / python / numpy RNG states of each process (dropout)
      state.json              step, epoch, tokens, the data position, and the config it belongs to

The data position is the step itself: the batch order is a pure function of (seed, epoch), so the
resumed run rebuilds it and continues at micro-batch step * grad_accum * world_size.
Each checkpoint is written to a staging folder and renamed into place, so a crash while saving
never leaves a half checkpoint that looks complete.

A checkpoint may come from someone else (a shared run folder, the UI's Resume button), and a pickle
can run code when it is loaded. So the .pt files hold only tensors and plain values (numpy's RNG
state is stored as a tensor and numbers, not as an ndarray) and are read with `weights_only=True`:
a file holding anything else is refused, never executed.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from tunesmith.errors import ConfigError
from tunesmith.io import atomic_dir


def _state_dict_api():
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict, set_model_state_dict,
                                                         set_optimizer_state_dict)
    return StateDictOptions, get_model_state_dict, get_optimizer_state_dict, set_model_state_dict, set_optimizer_state_dict


def trainable_names(model: torch.nn.Module) -> set[str]:
    from torch.distributed.checkpoint.state_dict import _get_fqns

    names = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            names.update(_get_fqns(model, name))  # the name without DDP / FSDP / compile wrappers
    return names


def save(path: Path, *, model, optimizer, scheduler, state: dict, extra: dict, rank: int = 0,
         keep: int | None = None) -> None:
    """Collective under torchrun: every process calls it (FSDP gathers the shards); rank 0 writes."""
    from safetensors.torch import save_file

    Options, get_model_sd, get_optim_sd, _, _ = _state_dict_api()
    options = Options(full_state_dict=True, cpu_offload=True)
    names = trainable_names(model)
    weights = get_model_sd(model, options=options)
    optim = get_optim_sd(model, optimizer, options=options)
    rng = rng_state()
    gathered = [None] * dist.get_world_size() if dist.is_initialized() else [rng]
    if dist.is_initialized():
        dist.all_gather_object(gathered, rng)
    if rank == 0:
        with atomic_dir(path, stale="step-*") as tmp:  # also removes half-written checkpoints of a killed run
            save_file({k: v.contiguous() for k, v in weights.items() if k in names}, tmp / "trainable.safetensors")
            torch.save(optim, tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save(extra, tmp / "extra.pt")
            for r, state_r in enumerate(gathered):
                torch.save(state_r, tmp / f"rng-rank{r}.pt")
            (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        if keep:
            prune(path.parent, keep)
    if dist.is_initialized():
        dist.barrier()


def load(path: Path, *, model, optimizer, scheduler, rank: int = 0) -> tuple[dict, dict]:
    """Restore everything in place; returns (state, extra)."""
    from safetensors.torch import load_file

    Options, _, _, set_model_sd, set_optim_sd = _state_dict_api()
    path = Path(path)
    if not (path / "state.json").is_file():
        raise ConfigError(f"{path} is not a checkpoint (no state.json)", "give a checkpoints/step-N folder")
    options = Options(full_state_dict=True, strict=False)
    weights = load_file(path / "trainable.safetensors")
    missing = trainable_names(model) - set(weights)
    if missing:
        raise ConfigError(f"{path}: the checkpoint lacks {len(missing)} trained parameters (e.g. {sorted(missing)[0]})",
                          "it was written by a run with another method or model")
    optim, schedule, extra = (load_plain(path / name) for name in ("optimizer.pt", "scheduler.pt", "extra.pt"))
    rng_file = path / f"rng-rank{rank}.pt"
    rng = load_plain(rng_file) if rng_file.is_file() else None
    set_model_sd(model, weights, options=options)
    set_optim_sd(model, optimizer, optim, options=options)
    scheduler.load_state_dict(schedule)
    if rng is not None:
        set_rng_state(rng)
    return json.loads((path / "state.json").read_text()), extra


def load_plain(file: Path):
    """A .pt file of tensors and plain values; anything that would need unpickling code is refused."""
    try:
        return torch.load(file, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{file}: refused to load it: it holds Python objects beyond tensors and plain values, "
                          f"which could run code when loaded ({reason[:200]})",
                          "tunesmith's own checkpoints never do: resume only from checkpoints you wrote, or "
                          "start the run again without --resume") from None


def prune(folder: Path, keep: int) -> None:
    steps = sorted(folder.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def rng_state() -> dict:
    """Every RNG's state as tensors and plain values (what `weights_only=True` loads)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
