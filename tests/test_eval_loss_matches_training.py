"""One masked loss: the validation loss the training loop logs equals `tunesmith eval`'s loss on the same
records (both call train.loss.token_loss_sums on samples rendered by text.render)."""

from __future__ import annotations

import json

import pytest

from tunesmith.runs.config import RunConfig
from tunesmith.train.loop import train
from run_factory import method_block


def write_alpaca(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("method", ["lora", "prompt"])  # prompt tuning puts virtual tokens before the input
def test_the_loops_eval_loss_equals_tunesmith_eval(tiny_model_dir, tmp_path, method):
    from tunesmith.evaluate.compare import evaluate
    from tunesmith.infer.generate import Sampling
    from tunesmith.infer.target import open_target

    words = ["apple", "river", "stone", "cloud", "music", "green", "seven", "light"]
    train_rows = [{"instruction": f"Repeat: {w} {v}", "input": "", "output": f"{w} {v}"} for w in words for v in words[:3]]
    val_rows = [{"instruction": "Repeat: a long one", "input": "with some context", "output": "apple river stone cloud"},
                {"instruction": "Repeat: short", "input": "", "output": "seven"},
                {"instruction": "Say it twice", "input": "", "output": "green green, then light light"}]
    cfg = RunConfig.model_validate({
        "model": {"path": str(tiny_model_dir)},
        "data": {"train": [str(write_alpaca(tmp_path / "train.jsonl", train_rows))],
                 "val": [str(write_alpaca(tmp_path / "val.jsonl", val_rows))]},
        "template": {"name": "llama2-zh", "max_seq_len": 128},
        "method": method_block(method, r=4, dropout=0.0, num_virtual_tokens=4),
        "train": {"max_steps": 3, "micro_batch_size": 2, "lr": 1e-2},
        "output_dir": str(tmp_path / "run")})
    result = train(cfg, progress=False)
    ev = evaluate(open_target(tmp_path / "run", device="cpu"), data=tmp_path / "val.jsonl",
                  sampling=Sampling(max_new_tokens=2), batch_size=3, progress=False)
    assert ev.tuned.loss.records == 3
    assert ev.tuned.loss.loss == pytest.approx(result.eval_loss, rel=1e-5, abs=1e-6)
