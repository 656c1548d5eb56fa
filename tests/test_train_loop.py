"""The training loop on the tiny Llama: the run folder contract, gradient accumulation, packing,
exact resume, Ctrl-C, and the errors that must come before any work."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file
from run_factory import method_block

from tunesmith.errors import ConfigError
from tunesmith.runs.config import RunConfig
from tunesmith.text.batching import IGNORE_INDEX, Sample
from tunesmith.train import loop
from tunesmith.train.loop import train


pytestmark = pytest.mark.usefixtures("one_thread")


def samples(n: int = 8, seed: int = 0, lo: int = 6, hi: int = 30) -> list[Sample]:
    """`n` random samples of lo..hi tokens between BOS and EOS, a random prompt of them masked."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(lo, hi)
        ids = [1] + [rng.randint(3, 599) for _ in range(length)] + [2]
        prompt = rng.randint(2, length // 2)
        out.append(Sample(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def config(model_dir, out, method="lora", **train_settings) -> RunConfig:
    return RunConfig.model_validate({
        "model": {"path": str(model_dir)},
        "template": {"name": "llama2-zh", "max_seq_len": 128},
        "method": method_block(method, r=4, dropout=0.0),
        "train": {"max_steps": 4, "micro_batch_size": 4, "lr": 1e-2, "warmup_ratio": 0.25, **train_settings},
        "output_dir": str(out)})


def write_alpaca(path, n=24, seed=0):
    rng = random.Random(seed)
    words = ["apple", "river", "stone", "cloud", "music", "green", "seven", "light", "paper", "north"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            q = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
            f.write(json.dumps({"instruction": f"Repeat: {q}", "input": "", "output": q}) + "\n")
    return path


def trained_weights(run_dir):
    folder = run_dir / "adapter"
    return load_file(folder / "adapter_model.safetensors") if folder.is_dir() else \
        load_file(run_dir / "model" / "model.safetensors")


def test_run_folder_from_data_files(tiny_model_dir, tmp_path):
    from tunesmith import config as config_module
    from tunesmith.runs.folder import load_trained

    data = write_alpaca(tmp_path / "train.jsonl")
    cfg = config(tiny_model_dir, tmp_path / "run", max_steps=None, epochs=2, eval_every=2)
    cfg.data.train = [str(data)]
    cfg.data.val_split = 0.25
    result = train(cfg, progress=False)
    run = tmp_path / "run"
    assert result.steps == 2 * 18 // 4 + 1  # 18 training samples, micro-batch 4: 5 per epoch, ceil(2 * 5 / 1)
    resolved = config_module.load(RunConfig, run / "config.yaml")
    assert resolved.method.name == "lora" and resolved.data.train == [str(data)]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"][0]["sha256"] and manifest["seed"] == 42 and manifest["packages"]["torch"]
    assert manifest["data_stats"]["train_samples"] == 18
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, result.steps + 1))
    assert all({"loss", "lr", "grad_norm", "tok_s", "trained_tokens"} <= set(r) for r in records)
    assert [r["step"] for r in records if "eval_loss" in r] == [2, 4, 6, 8, 10]
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "loss_curve.png").stat().st_size > 1000
    model, tokenizer, cfg_back = load_trained(run, device="cpu")
    assert cfg_back.template.name == "llama2-zh"


def test_grad_accumulation_equals_the_big_batch(tiny_model_dir, tmp_path):
    """4 x micro-batch 1 == 1 x micro-batch 4: the loss is normalised over the whole window's tokens."""
    data = samples(8)
    common = dict(group_by_length=False, max_steps=2, warmup_ratio=0)
    big = train(config(tiny_model_dir, tmp_path / "big", "full", micro_batch_size=4, grad_accum=1, **common),
                samples=data, progress=False)
    small = train(config(tiny_model_dir, tmp_path / "small", "full", micro_batch_size=1, grad_accum=4, **common),
                  samples=data, progress=False)
    assert small.losses == pytest.approx(big.losses, rel=1e-5)
    for name, w in trained_weights(tmp_path / "big").items():
        # Adam divides by sqrt(v): float-rounding-sized gradient differences move weights by ~1e-6
        torch.testing.assert_close(trained_weights(tmp_path / "small")[name], w, rtol=1e-3, atol=2e-5)


def test_grad_accumulation_weights_every_token_equally(tiny_model_dir, tmp_path):
    """The per-micro-batch mean (the bug) would give a long and a short sample equal weight."""
    data = samples(2, seed=7)
    assert data[0].trained_tokens > 2 * data[1].trained_tokens  # 15 vs 6 trained tokens
    out = train(config(tiny_model_dir, tmp_path / "r", "full", micro_batch_size=1, grad_accum=2, max_steps=1,
                       group_by_length=False), samples=data, progress=False)
    from transformers import AutoModelForCausalLM

    from tunesmith.text.batching import pad_batch

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = pad_batch(data, 0)
    with torch.no_grad():
        token_mean = float(model(**batch, use_cache=False).loss)
    assert out.losses[0] == pytest.approx(token_mean, rel=1e-5)


def test_packed_training_equals_unpacked(tiny_model_dir, tmp_path):
    data = samples(8, seed=3)
    common = dict(max_steps=3, warmup_ratio=0, micro_batch_size=8, group_by_length=False)
    plain = train(config(tiny_model_dir, tmp_path / "plain", "full", **common), samples=data, progress=False)
    packed = train(config(tiny_model_dir, tmp_path / "packed", "full", packing=True, **common), samples=data,
                   progress=False)
    assert packed.losses == pytest.approx(plain.losses, rel=1e-4)


def test_resume_is_bitwise_identical(tiny_model_dir, tmp_path):
    """LoRA dropout on, so the resumed run must also restore the RNG, not only weights and optimizer."""
    data = samples(12, seed=1)
    settings = dict(max_steps=6, micro_batch_size=2, save_every=3, keep_checkpoints=5)
    cfg = config(tiny_model_dir, tmp_path / "whole", **settings)
    cfg.method.dropout = 0.2
    whole = train(cfg, samples=data, progress=False)
    assert sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir()) == ["step-3"]

    cfg2 = cfg.model_copy(deep=True)
    cfg2.output_dir = str(tmp_path / "resumed")
    resumed = train(cfg2, samples=data, progress=False, resume=str(tmp_path / "whole" / "checkpoints" / "step-3"))
    assert resumed.losses == whole.losses[3:]
    a, b = trained_weights(tmp_path / "whole"), trained_weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_saves_and_resume_finishes_identically(tiny_model_dir, tmp_path, monkeypatch):
    data = samples(8, seed=2)
    cfg = config(tiny_model_dir, tmp_path / "run", "full", max_steps=5, micro_batch_size=2)
    reference = train(config(tiny_model_dir, tmp_path / "ref", "full", max_steps=5, micro_batch_size=2),
                      samples=data, progress=False)

    class CtrlCAfterTwoSteps(loop.StopFlag):
        calls = 0

        @property
        def requested(self):
            CtrlCAfterTwoSteps.calls += 1
            return CtrlCAfterTwoSteps.calls >= 2

        @requested.setter
        def requested(self, value):
            pass

    monkeypatch.setattr(loop, "StopFlag", CtrlCAfterTwoSteps)
    stopped = train(cfg, samples=data, progress=False)
    assert stopped.interrupted and len(stopped.losses) == 2
    assert (tmp_path / "run" / "checkpoints" / "step-2" / "state.json").is_file()
    assert not (tmp_path / "run" / "model").exists()
    monkeypatch.undo()

    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, samples=data, progress=False)  # never silently start over
    finished = train(cfg, samples=data, progress=False, resume=True)
    assert stopped.losses + finished.losses == reference.losses
    a, b = trained_weights(tmp_path / "ref"), trained_weights(tmp_path / "run")
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


def test_resume_refuses_a_changed_config(tiny_model_dir, tmp_path):
    data = samples(8)
    cfg = config(tiny_model_dir, tmp_path / "run", max_steps=4, save_every=2, micro_batch_size=2)
    train(cfg, samples=data, progress=False)
    cfg.train.lr = 5e-3
    with pytest.raises(ConfigError, match="train.lr"):
        train(cfg, samples=data, progress=False, resume=str(tmp_path / "run" / "checkpoints" / "step-2"))


def test_resume_takes_a_key_added_since_the_checkpoint_as_its_default(tiny_model_dir, tmp_path):
    """A checkpoint written before train.objective (and its options) existed still resumes; a key that
    changed is still refused."""
    import yaml

    data = samples(8)
    cfg = config(tiny_model_dir, tmp_path / "run", max_steps=4, save_every=2, micro_batch_size=2)
    train(cfg, samples=data, progress=False)
    step2 = tmp_path / "run" / "checkpoints" / "step-2"
    state = json.loads((step2 / "state.json").read_text())
    written = yaml.safe_load(state["config"])
    for key in ("objective", "beta", "label_smoothing", "simpo_gamma"):
        written["train"].pop(key)
    state["config"] = yaml.safe_dump(written)
    (step2 / "state.json").write_text(json.dumps(state))
    assert train(cfg, samples=data, progress=False, resume=str(step2)).steps == 4
    cfg.train.lr = 5e-3
    with pytest.raises(ConfigError, match="train.lr"):
        train(cfg, samples=data, progress=False, resume=str(step2))


@pytest.mark.parametrize("override, message", [
    ({"train": {"precision": "fp16"}}, "needs a CUDA GPU"),
    ({"model": {"attn_implementation": "flash_attention_2"}}, "needs a CUDA GPU"),
    ({"method": {"name": "prefix"}, "train": {"packing": True}}, "packing"),
    ({"method": {"name": "full"}, "model": {"load_in_8bit": True}}, "cannot train a quantized model"),
    ({"template": {"name": "chatml"}}, "<|im_start|>"),
    ({"template": {"max_seq_len": 10}}, "shorter than every training sample"),
])
def test_errors_before_any_work(tiny_model_dir, tmp_path, override, message):
    data = write_alpaca(tmp_path / "train.jsonl", n=6)
    raw = config(tiny_model_dir, tmp_path / "run").model_dump()
    raw["data"]["train"] = [str(data)]
    for block, values in override.items():  # another method's block has its own keys: it replaces lora's
        raw[block] = values if block == "method" else {**raw[block], **values}
    with pytest.raises(ConfigError, match=message):
        train(RunConfig.model_validate(raw), progress=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_neftune_adds_noise_in_training_only(tiny_model_dir, tmp_path):
    data = samples(4)
    plain = train(config(tiny_model_dir, tmp_path / "a", "full", max_steps=2), samples=data, progress=False)
    noisy = train(config(tiny_model_dir, tmp_path / "b", "full", max_steps=2, neftune_alpha=5.0), samples=data,
                  progress=False)
    assert noisy.losses[0] != plain.losses[0]
    ids = torch.tensor([data[0].input_ids])
    noisy.model.eval()
    with torch.no_grad():
        first, second = noisy.model(input_ids=ids).logits, noisy.model(input_ids=ids).logits
    assert torch.equal(first, second)


def test_gradient_checkpointing_gives_the_same_losses(tiny_model_dir, tmp_path):
    data = samples(4)
    plain = train(config(tiny_model_dir, tmp_path / "a", max_steps=3), samples=data, progress=False)
    checkpointed = train(config(tiny_model_dir, tmp_path / "b", max_steps=3, gradient_checkpointing=True),
                         samples=data, progress=False)
    assert checkpointed.losses == pytest.approx(plain.losses, rel=1e-5)


def test_cli_train_print_config_and_run(tiny_model_dir, tmp_path, capsys):
    from tunesmith.cli import main

    data = write_alpaca(tmp_path / "train.jsonl", n=8)
    args = [f"model.path={tiny_model_dir}", f"data.train=[{data}]", "template.name=llama2-zh",
            "train.max_steps=2", "train.micro_batch_size=4", f"output_dir={tmp_path / 'run'}"]
    assert main(["train", *args, "--print-config"]) == 0
    assert "# Fine-tuning method" in capsys.readouterr().out
    assert main(["train", *args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "done: 2 steps" in out and "run folder" in out
    assert main(["train", *args, "--no-progress"]) == 2  # a finished run is not silently overwritten
    assert "--resume" in capsys.readouterr().err
