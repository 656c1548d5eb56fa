"""Several processes under torchrun: DDP (a full copy each) or FSDP2 (sharded), gloo on CPU, NCCL on CUDA.

    torchrun --nproc-per-node 2 -m tunesmith train run.yaml train.distributed=fsdp

Every process builds the same batch plan; process r takes micro-batches r, r+W, ... of each
optimizer step's window, so N processes with grad_accum A train on exactly the batches one process
with grad_accum N*A would, and the loss is normalised by the trained tokens of the whole window.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tunesmith.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device: torch.device | None = None) -> Dist:
    """Join the process group torchrun set up, if any; the device is this process's GPU or the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=device or torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local, device)


def wrap(model: torch.nn.Module, strategy: str, d: Dist) -> torch.nn.Module:
    if not d.enabled:
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in decoder_layers(model):
            fully_shard(layer)  # one all-gather per layer: peak memory holds one full layer, not the model
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def no_sync(model: torch.nn.Module, last_micro: bool):
    """Skip DDP's gradient all-reduce on all but the last micro-batch of a window (same result, less traffic)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel) and not last_micro:
        return model.no_sync()
    return contextlib.nullcontext()


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    found = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
    if not found:
        raise ConfigError("train.distributed=fsdp: no decoder layers found to shard", "use train.distributed=ddp")
    return found


def sum_across(value: float, d: Dist) -> float:
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return float(t.item())


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
