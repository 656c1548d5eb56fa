"""Before `tunesmith train` loads anything: does the run's estimated peak fit the memory free now?

`check(cfg, mode)` estimates the run as `tunesmith estimate` does (the model built on the meta
device, no weights read, `train/estimate.py`) and compares the peak with the memory free on the
device the run will use: on CUDA the GPU's free memory (`torch.cuda.mem_get_info`), on the CPU
`MemAvailable` of /proc/meminfo (psutil where there is no /proc). When the peak is larger it says
so with the settings that would fit, as overrides to paste after `tunesmith train`.

mode "warn" (the default) prints the warning and lets the run go on: the estimate is a worst case
(every micro-batch max_seq_len long) and memory frees up; "error" stops with a ConfigError before
the model loads; "off" does not check. The check never stops a run on its own account: a model
config it cannot read without the network, or free memory it cannot read, skips it silently.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.runs.config import RunConfig

MODES = ("warn", "error", "off")


def run_device() -> tuple[str, int | None]:
    """("cuda", index) or ("cpu", None): where `train` will put the model (as train.distributed.init does)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", int(os.environ.get("LOCAL_RANK", "0"))
    return "cpu", None


def free_memory(device: str, index: int | None = None) -> float | None:
    """Bytes free on the device now, or None when they cannot be read."""
    if device == "cuda":
        import torch

        return float(torch.cuda.mem_get_info(index)[0])
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.virtual_memory().available)


def check(cfg: RunConfig, mode: str = "warn") -> str | None:
    """The warning printed (None when the run fits or was not checked); ConfigError in mode "error"."""
    if mode == "off":
        return None
    from tunesmith.train import estimate as est

    device, index = run_device()
    free = free_memory(device, index)
    if free is None:
        return None
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        hf = est.model_config(cfg, local_only=True)  # a hub id is read from the cache only: no network wait
        e = est.estimate(cfg, device, hf, world_size=world_size)
        if e.peak <= free:
            return None
        options = est.suggestions(cfg, free, device, hf_config=hf, world_size=world_size)
    except TunesmithError:
        return None  # the model itself will say what is wrong with it, in train()
    where = "on the CPU" if device == "cpu" else f"on cuda:{index}"
    lines = [f"this run needs about {est.human(e.peak)} at its peak (tunesmith estimate --device {device}), "
             f"and {est.human(free)} is free {where}"]
    if options:
        lines.append("settings that would fit (append them to `tunesmith train ...`):")
        lines += [f"  {est.human(o.peak):>10}  {' '.join(changes)}" for changes, o in options]
    else:
        lines.append("no change of method, dtype, gradient checkpointing or micro-batch size fits: "
                     "lower template.max_seq_len or free memory")
    if mode == "error":
        raise ConfigError(lines[0], "\n".join(lines[1:] + ["--memory-check=warn lets the run start anyway"]))
    text = "warning: " + "\n".join(lines + [
        "(the estimate is a worst case: every micro-batch max_seq_len tokens long; "
        "--memory-check=off silences this, --memory-check=error stops here instead)"])
    if os.environ.get("RANK", "0") == "0":
        print(text, file=sys.stderr, flush=True)
    return text
