"""How many optimizer steps a run takes, and the learning rate at each: linear warmup, then decay."""

from __future__ import annotations

import math

import torch

from tunesmith.runs.config import TrainConfig


def total_steps(cfg: TrainConfig, micro_batches_per_epoch: int, world_size: int = 1) -> int:
    """Optimizer steps: `max_steps` if set, else enough windows to cover `epochs` passes over the data.

    One step consumes grad_accum micro-batches in each of world_size processes.
    """
    if cfg.max_steps:
        return cfg.max_steps
    per_step = cfg.grad_accum * world_size
    return max(1, math.ceil(cfg.epochs * micro_batches_per_epoch / per_step))


def warmup_steps(cfg: TrainConfig, steps: int) -> int:
    return math.ceil(cfg.warmup_ratio * steps)


def lr_factor(step: int, warmup: int, steps: int, kind: str) -> float:
    """Multiplier of the peak learning rate for the optimizer step `step` (0-based)."""
    if step < warmup:
        return (step + 1) / (warmup + 1)  # never 0: a step at lr 0 is a wasted step
    if kind == "constant":
        return 1.0
    progress = (step - warmup) / max(1, steps - warmup)
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))  # cosine down to 0


def build(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = warmup_steps(cfg, steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, steps, cfg.scheduler))
