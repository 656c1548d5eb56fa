"""2-process DDP and FSDP2 on CPU (torchrun, gloo) give the losses (and eval loss) of 1 process with the
same global batch.

This file is also the worker torchrun runs: `torchrun --nproc-per-node 2 tests/test_train_distributed.py
OUT MODEL STRATEGY`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()


def samples(n=8, seed=0):
    from tunesmith.text.batching import IGNORE_INDEX, Sample

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(6, 24)
        ids = [1] + [rng.randint(3, 599) for _ in range(length)] + [2]
        out.append(Sample(ids, [IGNORE_INDEX] * 3 + ids[3:]))
    return out


def run(out_dir: str, model_dir: str, strategy: str, grad_accum: int, method: str = "lora") -> list[float]:
    import torch

    from run_factory import method_block

    from tunesmith.runs.config import RunConfig
    from tunesmith.train.loop import train

    torch.set_num_threads(1)
    cfg = RunConfig.model_validate({
        "model": {"path": model_dir}, "method": method_block(method, r=4, dropout=0.0),
        "train": {"max_steps": 3, "micro_batch_size": 2, "grad_accum": grad_accum, "lr": 1e-2,
                  "group_by_length": False, "distributed": strategy},
        "output_dir": out_dir})
    # 5 validation samples in micro-batches of 2: 3 batches over 2 processes, so one runs a filler forward
    result = train(cfg, samples=samples(), val_samples=samples(5, seed=9), progress=False)
    return result.losses + [result.eval_loss]


def torchrun(tmp_path, model_dir, strategy, method="lora") -> list[float]:
    out = tmp_path / f"{strategy}-{method}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(HERE), str(out), str(model_dir), strategy, method]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "losses.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("strategy, method", [("ddp", "lora"), ("fsdp", "lora"), ("fsdp", "full")])
def test_two_processes_match_one(tiny_model_dir, tmp_path, strategy, method):
    single = run(str(tmp_path / "single"), str(tiny_model_dir), "ddp", grad_accum=2, method=method)
    double = torchrun(tmp_path, tiny_model_dir, strategy, method)
    assert double == pytest.approx(single, rel=1e-4)
    out = tmp_path / f"{strategy}-{method}"
    assert (out / ("model" if method == "full" else "adapter")).is_dir()


if __name__ == "__main__":
    out_dir, model_dir, strategy, method = sys.argv[1:5]
    losses = run(out_dir, model_dir, strategy, grad_accum=1, method=method)
    if int(os.environ.get("RANK", "0")) == 0:
        (Path(out_dir) / "losses.json").write_text(json.dumps(losses))
