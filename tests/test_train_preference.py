"""Preference training in the loop on the tiny Llama: a toy set's preference accuracy rises, the reference
with adapters disabled is the base model, resume is bitwise exact, grad accumulation 2 x 1 equals 1 x 2,
what cannot work is refused before the model loads, and 2 processes (DDP, FSDP2) match one.

This file is also the worker torchrun runs: `torchrun --nproc-per-node 2 tests/test_train_preference.py
OUT MODEL STRATEGY METHOD OBJECTIVE`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve()
WORDS = ["apple", "river", "stone", "cloud", "music", "green", "seven", "light", "paper", "north"]

pytestmark = pytest.mark.usefixtures("one_thread")


def toy_pairs(tokenizer, n=16, seed=0):
    """A persona's answers: the chosen one repeats the request politely, the rejected one is off-topic."""
    from tunesmith.records.example import Example, Turn
    from tunesmith.text.render_pair import render_pair
    from tunesmith.text.templates import get_template

    rng = random.Random(seed)
    template = get_template("llama2-zh", tokenizer)
    out = []
    for _ in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
        other = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
        ex = Example([Turn("user", f"Say: {q}")], rejected=Turn("assistant", f"no, {other}"))
        ex.turns.append(Turn("assistant", f"gladly: {q}"))
        out.append(render_pair(ex, template, tokenizer, max_seq_len=128))
    return out


def config(model_dir, out, method="lora", objective="dpo", **train):
    from tunesmith.runs.config import RunConfig

    return RunConfig.model_validate({
        "model": {"path": str(model_dir)},
        "template": {"name": "llama2-zh", "max_seq_len": 128},
        "method": {"name": method, **({"r": 4, "dropout": 0.0} if method in ("lora", "dora") else {})},
        "train": {"objective": objective, "max_steps": 4, "micro_batch_size": 4, "lr": 2e-2, "warmup_ratio": 0,
                  **train},
        "output_dir": str(out)})


def metrics(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def weights(run_dir):
    from safetensors.torch import load_file

    folder = Path(run_dir) / "adapter"
    return load_file(folder / "adapter_model.safetensors") if folder.is_dir() else \
        load_file(Path(run_dir) / "model" / "model.safetensors")


def test_toy_preference_accuracy_rises(tiny_model_dir, tiny_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from tunesmith.train.distributed import Dist
    from tunesmith.train.loop import train
    from tunesmith.train.preference import pair_logps

    pairs = toy_pairs(tiny_tokenizer)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    before = pair_logps(base, pairs, 8, Dist())
    out = train(config(tiny_model_dir, tmp_path / "run", max_steps=12, eval_every=1), samples=pairs, val_samples=pairs,
                progress=False)
    log = metrics(tmp_path / "run")
    # Step 1's eval comes after one step; the reference's own accuracy (policy == reference) is 0.5 by ties.
    assert log[0]["preference_accuracy"] == 0.5 and log[0]["rewards/margin"] == 0.0
    assert log[-1]["eval_preference_accuracy"] >= 0.9 and log[-1]["preference_accuracy"] >= 0.9
    assert log[-1]["eval_rewards/margin"] > 0 and log[-1]["loss"] < log[0]["loss"]
    # The same from outside the loop: the tuned model's log-ratio to the base prefers the chosen answers.
    with torch.no_grad():
        after = pair_logps(out.model, pairs, 8, Dist())
    margin = (after[:, 0] - before[:, 0]) - (after[:, 1] - before[:, 1])
    assert float((margin > 0).float().mean()) >= 0.9
    # score_pairs (what `tunesmith eval` calls) reads the same as the loop's last evaluation.
    from tunesmith.train.objectives import score_pairs

    scores = score_pairs("dpo", after, before, pairs, beta=0.1)
    assert scores["preference_accuracy"] == log[-1]["eval_preference_accuracy"]
    assert scores["reward_margin"] == pytest.approx(log[-1]["eval_rewards/margin"], rel=1e-4)
    assert scores["loss"] == pytest.approx(log[-1]["eval_loss"], rel=1e-4)
    print(f"toy DPO: preference accuracy {log[0]['preference_accuracy']} (step 1, before its update) -> "
          f"{log[-1]['eval_preference_accuracy']} after 12 steps; base model's own (summed log-prob) preference "
          f"{float((before[:, 0] > before[:, 1]).float().mean()):.3f}, mean margin {scores['reward_margin']:.3f}")


@pytest.mark.parametrize("method", ["lora", "ia3", "prefix", "prompt", "ptuning"])
def test_reference_with_adapters_disabled_is_the_base_model(tiny_model_dir, tiny_tokenizer, method):
    """Prompt learning too: PEFT's disable_adapter runs the base without virtual tokens, so DPO may use it."""
    from transformers import AutoModelForCausalLM

    from tunesmith import methods
    from tunesmith.runs.config import RunConfig
    from tunesmith.text.batching import pad_batch
    from tunesmith.train.distributed import Dist
    from tunesmith.train.preference import AdaptersOff, pair_logps, sequence_logps

    pairs = toy_pairs(tiny_tokenizer, n=4)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    expected = pair_logps(base, pairs, 4, Dist())
    cfg = RunConfig.model_validate({"method": {"name": method, "num_virtual_tokens": 4}
                                    if method in ("prefix", "prompt", "ptuning") else {"name": method}})
    torch.manual_seed(0)
    tuned = methods.get(method).apply(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
                                      cfg.method, methods.MethodContext(total_steps=10))
    with torch.no_grad():
        for p in tuned.parameters():
            if p.requires_grad:
                p.add_(0.5 * torch.randn_like(p))
    batch = pad_batch([p.chosen for p in pairs] + [p.rejected for p in pairs], 0)
    with torch.no_grad():
        policy, _ = sequence_logps(tuned, batch)
    reference = AdaptersOff(tuned, tuned).logps(batch, torch.arange(4))
    torch.testing.assert_close(reference, torch.cat([expected[:, 0], expected[:, 1]]), rtol=0, atol=1e-4)
    assert (policy - reference).abs().max() > 1e-2  # the adapters do change the policy
    assert tuned.training  # AdaptersOff restores the mode it found


@pytest.mark.parametrize("method, objective, forwards", [("lora", "dpo", 2), ("full", "dpo", 1), ("lora", "simpo", 1)])
def test_chosen_and_rejected_go_through_in_one_forward(tiny_model_dir, tiny_tokenizer, tmp_path, monkeypatch, method,
                                                       objective, forwards):
    """Per micro-batch of B pairs: one forward of 2B rows (chosen then rejected); LoRA's DPO adds the no-grad
    reference forward of the same rows; full's reference was computed once before step 1 (one pass over the pairs)."""
    from tunesmith.train import preference
    from tunesmith.train.loop import train

    calls = []
    real = preference.sequence_logps

    def recording(model, batch, fused=None):
        calls.append((batch["input_ids"].shape[0], torch.is_grad_enabled()))
        return real(model, batch, fused)

    monkeypatch.setattr(preference, "sequence_logps", recording)
    pairs = toy_pairs(tiny_tokenizer, n=4)
    train(config(tiny_model_dir, tmp_path / "r", method, objective, max_steps=2, micro_batch_size=2,
                 lr=1e-3), samples=pairs, progress=False)
    precomputed = 2 if method == "full" else 0  # the cached reference: 4 pairs in micro-batches of 2, no grad
    assert [c for c in calls[:precomputed]] == [(4, False)] * precomputed
    per_step = calls[precomputed:]
    assert len(per_step) == 2 * forwards and all(rows == 4 for rows, _ in per_step)
    assert sum(grad for _, grad in per_step) == 2  # one policy forward with gradients per micro-batch


@pytest.mark.parametrize("method, objective", [("lora", "dpo"), ("full", "dpo"), ("lora", "orpo")])
def test_resume_is_bitwise_identical(tiny_model_dir, tiny_tokenizer, tmp_path, method, objective):
    """full: the resumed run reads the step-0 reference from the run folder (its weights are no longer it)."""
    import shutil

    from tunesmith.train.loop import train
    from tunesmith.train.preference import REFERENCE_FILE

    pairs = toy_pairs(tiny_tokenizer, n=12, seed=1)
    settings = dict(max_steps=6, micro_batch_size=2, save_every=3, keep_checkpoints=5,
                    lr=2e-2 if method == "lora" else 1e-3)
    cfg = config(tiny_model_dir, tmp_path / "whole", method, objective, **settings)
    if method == "lora":
        cfg.method.dropout = 0.2  # the RNG must be restored too
    whole = train(cfg, samples=pairs, val_samples=pairs[:3], progress=False)
    if method == "full":
        assert (tmp_path / "whole" / REFERENCE_FILE).is_file()
    # Resume in place, as --resume does, after dropping the final outputs.
    shutil.copytree(tmp_path / "whole", tmp_path / "resumed")
    for part in ("adapter", "model", "tokenizer"):
        shutil.rmtree(tmp_path / "resumed" / part, ignore_errors=True)
    cfg2 = cfg.model_copy(deep=True)
    cfg2.output_dir = str(tmp_path / "resumed")
    resumed = train(cfg2, samples=pairs, val_samples=pairs[:3], progress=False,
                    resume=str(tmp_path / "resumed" / "checkpoints" / "step-3"))
    assert resumed.losses == whole.losses[3:]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert metrics(tmp_path / "resumed")[-1] == {**metrics(tmp_path / "whole")[-1],
                                                 "tok_s": metrics(tmp_path / "resumed")[-1]["tok_s"]}


@pytest.mark.parametrize("method, objective", [("full", "dpo"), ("full", "orpo"), ("lora", "ipo")])
def test_grad_accumulation_2x1_equals_1x2(tiny_model_dir, tiny_tokenizer, tmp_path, method, objective):
    """Normalised over the window's pairs (ORPO's NLL over its chosen tokens), as one big batch."""
    from tunesmith.train.loop import train

    pairs = toy_pairs(tiny_tokenizer, n=8, seed=2)
    common = dict(group_by_length=False, max_steps=3, lr=1e-3 if method == "full" else 1e-2)
    big = train(config(tiny_model_dir, tmp_path / "big", method, objective, micro_batch_size=2, grad_accum=1, **common),
                samples=pairs, progress=False)
    small = train(config(tiny_model_dir, tmp_path / "small", method, objective, micro_batch_size=1, grad_accum=2,
                         **common), samples=pairs, progress=False)
    assert small.losses == pytest.approx(big.losses, rel=1e-5)
    for name, w in weights(tmp_path / "big").items():
        torch.testing.assert_close(weights(tmp_path / "small")[name], w, rtol=1e-3, atol=2e-5)
    assert [m["rewards/margin"] for m in metrics(tmp_path / "small")] == \
        pytest.approx([m["rewards/margin"] for m in metrics(tmp_path / "big")], rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("override, message", [
    ({"packing": True}, "train.packing=true does not work with train.objective=dpo"),
    ({"objective": "ipo", "label_smoothing": 0.1}, "label_smoothing=0.1 has no meaning for train.objective=ipo"),
])
def test_refused_before_the_model_loads(tiny_model_dir, tiny_tokenizer, tmp_path, monkeypatch, override, message):
    from tunesmith.errors import ConfigError
    from tunesmith.model import load as model_load
    from tunesmith.train.loop import train

    monkeypatch.setattr(model_load, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        train(config(tiny_model_dir, tmp_path / "r", **override), samples=toy_pairs(tiny_tokenizer, n=2),
              progress=False)


def test_pairs_from_a_data_file_train_and_evaluate(tiny_model_dir, tmp_path):
    """LLaMA-Factory's preference shape through train.data.build: pairs rendered, a validation split held out."""
    from tunesmith.train.loop import train

    rng = random.Random(3)
    path = tmp_path / "pairs.json"
    records = [{"conversations": [{"from": "human", "value": f"Say: {w}"}],
                "chosen": {"from": "gpt", "value": f"gladly: {w}"},
                "rejected": {"from": "gpt", "value": f"no, {rng.choice(WORDS)}"}} for w in WORDS]
    path.write_text(json.dumps(records))
    cfg = config(tiny_model_dir, tmp_path / "r", max_steps=3, micro_batch_size=2)
    cfg.data.train, cfg.data.val_split = [str(path)], 0.2
    train(cfg, progress=False)
    log = metrics(tmp_path / "r")
    assert len(log) == 3 and {"eval_loss", "eval_preference_accuracy", "eval_rewards/margin"} <= log[-1].keys()
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["data_stats"]["train_samples"] == 8 and manifest["data_stats"]["val_samples"] == 2


def test_data_files_must_hold_pairs(tiny_model_dir, tmp_path):
    from tunesmith.errors import DataError
    from tunesmith.train.loop import train

    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps({"instruction": "Say: river", "input": "", "output": "river"}) + "\n")
    cfg = config(tiny_model_dir, tmp_path / "r")
    cfg.data.train = [str(path)]
    with pytest.raises(DataError, match=r"sft\.jsonl:1 has no rejected answer"):
        train(cfg, progress=False)


def test_sft_samples_are_refused_by_a_preference_objective(tiny_model_dir, tmp_path):
    from tunesmith.text.batching import Sample
    from tunesmith.train.loop import train

    with pytest.raises(ValueError, match="PairSamples"):
        train(config(tiny_model_dir, tmp_path / "r"), samples=[Sample([1, 5, 2], [-100, 5, 2])], progress=False)


# ---------------------------------------------------------------------------------------------
# 2 processes on CPU (torchrun, gloo) against 1 with the same global batch
# ---------------------------------------------------------------------------------------------

def run(out_dir: str, model_dir: str, strategy: str, grad_accum: int, method: str, objective: str) -> list[float]:
    from transformers import AutoTokenizer

    from tunesmith.train.loop import train

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cfg = config(model_dir, out_dir, method, objective, max_steps=3, micro_batch_size=2, grad_accum=grad_accum,
                 group_by_length=False, distributed=strategy, lr=1e-2 if method == "lora" else 1e-3)
    # 5 validation pairs in micro-batches of 2: 3 batches over 2 processes, so one runs a filler forward
    result = train(cfg, samples=toy_pairs(tokenizer, n=8), val_samples=toy_pairs(tokenizer, n=5, seed=9),
                   progress=False)
    last = metrics(out_dir)[-1] if int(os.environ.get("RANK", "0")) == 0 else {}
    return result.losses + [result.eval_loss, last.get("eval_preference_accuracy"), last.get("rewards/margin")]


@pytest.mark.slow
@pytest.mark.parametrize("strategy, method", [("ddp", "lora"), ("fsdp", "full")])
def test_two_processes_match_one(tiny_model_dir, tmp_path, strategy, method):
    single = run(str(tmp_path / "single"), str(tiny_model_dir), "ddp", 2, method, "dpo")
    out = tmp_path / f"{strategy}-{method}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(HERE),
           str(out), str(tiny_model_dir), strategy, method, "dpo"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = json.loads((out / "losses.json").read_text())
    assert double == pytest.approx(single, rel=1e-4, abs=1e-6)


if __name__ == "__main__":
    out_dir, model_dir, strategy, method, objective = sys.argv[1:6]
    values = run(out_dir, model_dir, strategy, 1, method, objective)
    if int(os.environ.get("RANK", "0")) == 0:
        (Path(out_dir) / "losses.json").write_text(json.dumps(values))
