"""A checkpoint never runs code when it is loaded: its .pt files hold only tensors and plain values,
and a file that holds anything else (a planted pickle) is refused with a clear message."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from test_train_loop import config, samples
from tunesmith.errors import ConfigError
from tunesmith.train import checkpoint
from tunesmith.train.loop import train


class _Payload:
    """What an attacker would plant: unpickling it runs a function (here: it writes a file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("planted", ["optimizer.pt", "scheduler.pt", "extra.pt", "rng-rank0.pt"])
def test_a_planted_pickle_is_refused_not_run(tiny_model_dir, tmp_path, planted):
    cfg = config(tiny_model_dir, tmp_path / "run", max_steps=2, save_every=1, keep_checkpoints=5)
    train(cfg, samples=samples(8), progress=False)
    step = tmp_path / "run" / "checkpoints" / "step-1"
    marker = tmp_path / "pwned"
    torch.save({"state": _Payload(marker)}, step / planted)
    again = cfg.model_copy(deep=True)
    again.output_dir = str(tmp_path / "resumed")
    with pytest.raises(ConfigError, match=f"{planted}: refused to load it") as info:
        train(again, samples=samples(8), progress=False, resume=str(step))
    assert "resume only from checkpoints you wrote" in info.value.hint
    assert not marker.exists()


def test_rng_states_survive_the_plain_format(tmp_path):
    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    np.random.standard_normal()  # a cached gaussian is part of numpy's state too
    torch.save(checkpoint.rng_state(), tmp_path / "rng.pt")
    want = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    checkpoint.set_rng_state(checkpoint.load_plain(tmp_path / "rng.pt"))
    assert (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist()) == want


def test_every_state_a_checkpoint_holds_loads_plain(tiny_model_dir, tmp_path):
    """AdaLoRA's importance scores and rank pattern travel in extra.pt: plain too, so resume works."""
    cfg = config(tiny_model_dir, tmp_path / "run", "adalora", max_steps=4, save_every=2, keep_checkpoints=5)
    cfg.method.target_r = 2
    whole = train(cfg, samples=samples(8), progress=False)
    again = cfg.model_copy(deep=True)
    again.output_dir = str(tmp_path / "resumed")
    resumed = train(again, samples=samples(8), progress=False, resume=str(tmp_path / "run" / "checkpoints" / "step-2"))
    assert resumed.losses == whole.losses[2:]
