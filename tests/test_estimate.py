"""`tunesmith estimate`: exact parameter counts, peaks close to measured ones, suggestions that fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.cli import main
from tunesmith.errors import ConfigError
from tunesmith.runs.config import RunConfig
from tunesmith.train import estimate as est

GiB = 1024 ** 3
ROOT = Path(__file__).resolve().parents[1]


def cfg(**blocks) -> RunConfig:
    raw = {"model": {"path": "meta-llama/Llama-2-7b-hf", "dtype": "bf16"}, "template": {"max_seq_len": 2048},
           "method": {"name": "lora", "r": 16}, "train": {"micro_batch_size": 4}}
    for block, values in blocks.items():  # another method's block has its own keys: it replaces lora's
        raw[block] = values if block == "method" and values.get("name", "lora") != "lora" else {**raw[block], **values}
    return RunConfig.model_validate(raw)


@pytest.mark.parametrize("blocks, measured_gib", [
    # PEERS.md, one H200, HF + PEFT (the plain loss): Llama-2-7B shape, LoRA r16 all-linear, micro-batch 4 x 2048
    ({"train": {"fused_loss": False}}, 87),
    ({"train": {"gradient_checkpointing": True, "fused_loss": False}}, 25),
])
def test_peak_is_within_15_percent_of_measured_runs(blocks, measured_gib):
    peak = est.estimate(cfg(**blocks), "cuda").peak / GiB
    assert abs(peak - measured_gib) / measured_gib < 0.15, peak


def test_full_finetune_tinyllama_shape_within_15_percent():
    from transformers import LlamaConfig

    hf = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                     num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False)
    c = cfg(model={"dtype": "fp32"}, method={"name": "full"},
            train={"micro_batch_size": 8, "precision": "bf16", "fused_loss": False})
    peak = est.estimate(c, "cuda", hf).peak / GiB
    assert abs(peak - 58) / 58 < 0.15, peak  # measured (HF + PEFT, the plain loss): 58 GiB


@pytest.mark.parametrize("method", ["full", "freeze", "lora", "dora", "ia3", "prefix", "prompt", "ptuning", "adalora"])
def test_trainable_count_is_exact(tiny_model_dir, method):
    from transformers import AutoModelForCausalLM

    from tunesmith import methods

    c = RunConfig.model_validate({"model": {"path": str(tiny_model_dir)}, "method": {"name": method}})
    trainable = est.count_parameters(c, est.model_config(c)).trainable
    real = methods.apply(AutoModelForCausalLM.from_pretrained(tiny_model_dir), c.method,
                         methods.MethodContext(total_steps=100))
    assert trainable == sum(p.numel() for p in real.parameters() if p.requires_grad)


def test_more_memory_hungry_settings_cost_more():
    base = est.estimate(cfg(), "cuda").peak
    assert est.estimate(cfg(train={"micro_batch_size": 8}), "cuda").peak > base
    assert est.estimate(cfg(train={"gradient_checkpointing": True}), "cuda").peak < base
    assert est.estimate(cfg(method={"name": "qlora"}), "cuda").peak < base
    assert est.estimate(cfg(method={"name": "full"}), "cuda").peak > base


def test_suggestions_fit_the_budget():
    options = est.suggestions(cfg(), 24 * GiB, "cuda")
    assert options
    for changes, option in options:
        assert option.peak <= 24 * GiB and changes
    assert "train.gradient_checkpointing=true" in options[0][0]  # cheapest first: keep method and dtype
    assert not any(c.startswith(("method.", "model.")) for c in options[0][0])


@pytest.mark.parametrize("text, gib", [("24GiB", 24), ("24GB", 24), ("80G", 80), ("512MiB", 0.5), ("16", 16)])
def test_parse_memory(text, gib):
    assert est.parse_memory(text) == gib * GiB


def test_parse_memory_refuses_nonsense():
    with pytest.raises(ConfigError):
        est.parse_memory("lots")


def test_cli(tiny_model_dir, capsys):
    assert main(["estimate", f"model.path={tiny_model_dir}", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "peak (estimate)" in out and "activations" in out
    assert main(["estimate", "model.path=meta-llama/Llama-2-7b-hf", "--memory", "24GiB"]) == 1
    out = capsys.readouterr().out
    assert "does not fit" in out and "train.gradient_checkpointing=true" in out


def test_readme_headline_example_fits_with_the_fused_loss(capsys):
    """`estimate configs/llama2-7b-lora.yaml --memory 24GiB` counted full logits the run never allocates."""
    assert main(["estimate", str(ROOT / "configs" / "llama2-7b-lora.yaml"), "--memory", "24GiB"]) == 0
    out = capsys.readouterr().out
    assert "fits in 24GiB" in out and "loss (fused, chunked logits)" in out
    assert main(["estimate", str(ROOT / "configs" / "llama2-7b-lora.yaml"), "train.fused_loss=false",
                 "--memory", "24GiB"]) == 1
    assert "logits + loss" in capsys.readouterr().out


def test_suggestions_are_distinct():
    """With gradient checkpointing already on, 'off' and 'on' made the same change list twice."""
    c = cfg(train={"gradient_checkpointing": True})
    options = est.suggestions(c, 18 * GiB, "cuda", limit=10)
    changes = [tuple(ch) for ch, _ in options]
    assert len(options) >= 2 and len(changes) == len(set(changes))


def test_fused_loss_counts_chunked_logits_and_falls_back_where_the_loop_does():
    """The fused loss holds 1024 rows of logits, not B x T; prompt learning, an adapter on lm_head and
    torchrun (world_size > 1) take the plain path in train/loss.py, and the estimate with them."""
    v, tokens = 32000, 4 * 2048
    plain = est.estimate(cfg(train={"fused_loss": False}), "cuda")
    fused = est.estimate(cfg(), "cuda")
    assert fused.fused_loss and not plain.fused_loss
    assert plain.parts["logits + loss"] == tokens * v * (2 + 12)
    loss = fused.parts["loss (fused, chunked logits)"]
    assert 1024 * v * 14 < loss < 1024 * v * 14 + tokens * 4096 * 2 * 2 + 1  # + hidden-state gradient and copy
    assert fused.peak < plain.peak - 2.5 * GiB
    assert est.estimate(cfg(), "cuda", world_size=2).parts["logits + loss"] == plain.parts["logits + loss"]
    counts = est.count_parameters(cfg(), est.model_config(cfg()))
    assert counts.fused_ok and not counts.head_trained  # asked of the meta model as the loop asks (split_head)
    head = est.estimate(cfg(), "cuda", counts=counts._replace(fused_ok=False))  # what split_head says of a tuned lm_head
    assert not head.fused_loss and any("lm_head" in n for n in head.notes)
    prompt = est.estimate(cfg(method={"name": "prompt", "num_virtual_tokens": 8}), "cuda")
    assert not prompt.fused_loss and any("prompt learning" in n for n in prompt.notes)


def test_fused_full_finetune_counts_the_lm_head_gradient_buffer():
    full = est.estimate(cfg(method={"name": "full"}), "cuda")
    lora = est.estimate(cfg(), "cuda")
    extra = full.parts["loss (fused, chunked logits)"] - lora.parts["loss (fused, chunked logits)"]
    assert extra == 32000 * 4096 * 4  # linear_ce keeps the fp32 weight gradient from forward to backward


# -- train's memory check: before the model loads, the estimate against the free memory ----------------


@pytest.fixture
def no_training(monkeypatch):
    """`tunesmith train` up to the call of train(): the check must come before anything loads."""
    calls = []

    def fake_train(cfg, **kwargs):
        calls.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr("tunesmith.train.loop.train", fake_train)
    monkeypatch.setattr("tunesmith.train.memory_check.run_device", lambda: ("cpu", None))
    return calls


def fake_free(monkeypatch, gib: float):
    monkeypatch.setattr("tunesmith.train.memory_check.free_memory", lambda device, index=None: gib * GiB)


LLAMA = ["model.path=meta-llama/Llama-2-7b-hf", "model.dtype=bf16", "template.max_seq_len=2048",
         "train.micro_batch_size=4", "train.precision=bf16"]


def test_train_warns_before_loading_when_the_estimate_exceeds_free_memory(monkeypatch, capsys, no_training):
    fake_free(monkeypatch, 24)
    with pytest.raises(SystemExit):
        main(["train", *LLAMA])
    err = capsys.readouterr().err
    assert "warning: this run needs about" in err and "24.00 GiB is free on the CPU" in err
    assert "train.micro_batch_size=" in err or "train.gradient_checkpointing=true" in err
    assert "--memory-check=off" in err
    assert len(no_training) == 1  # a warning, not an error: the run goes on


def test_train_memory_check_silent_when_it_fits_or_off(monkeypatch, capsys, no_training):
    fake_free(monkeypatch, 200)
    with pytest.raises(SystemExit):
        main(["train", *LLAMA])
    fake_free(monkeypatch, 1)
    with pytest.raises(SystemExit):
        main(["train", *LLAMA, "--memory-check", "off"])
    assert "warning" not in capsys.readouterr().err and len(no_training) == 2


def test_train_memory_check_error_stops_before_training(monkeypatch, capsys, no_training):
    fake_free(monkeypatch, 24)
    assert main(["train", *LLAMA, "--memory-check", "error"]) == 2
    err = capsys.readouterr().err
    assert "this run needs about" in err and "settings that would fit" in err
    assert no_training == []


def test_memory_check_suggestions_fit_the_free_memory(monkeypatch):
    from tunesmith import config
    from tunesmith.train import memory_check

    monkeypatch.setattr(memory_check, "run_device", lambda: ("cpu", None))
    fake_free(monkeypatch, 30)
    cfg = config.load(RunConfig, None, LLAMA)
    text = memory_check.check(cfg)
    assert text is not None
    for changes, option in est.suggestions(cfg, 30 * GiB, "cpu"):
        assert option.peak <= 30 * GiB and " ".join(changes) in text


def test_free_memory_reads_the_machine():
    from tunesmith.train import memory_check

    free = memory_check.free_memory("cpu")
    assert free is not None and 0 < free < 1 << 50


def test_a_preference_objective_counts_two_rows_per_pair_and_the_answers_log_probs():
    """DPO's micro-batch of B pairs is one forward of 2B rows, and its loss takes log-probs at every answer
    token at once (not chunked); the reference adds nothing at the peak (adapters off / cached)."""
    from transformers import LlamaConfig

    from tunesmith.train import estimate as est

    shape = LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
                        num_attention_heads=8, num_key_value_heads=8)
    sft = RunConfig.model_validate({"model": {"path": "x", "dtype": "fp32"}, "template": {"max_seq_len": 256},
                                    "train": {"micro_batch_size": 2}})
    dpo = sft.model_copy(deep=True)
    dpo.train.objective = "dpo"
    a, b = est.estimate(sft, "cpu", shape), est.estimate(dpo, "cpu", shape)
    assert b.parts["activations"] == 2 * a.parts["activations"]
    answers = b.parts["loss (answer log-probs)"]
    assert answers == 2 * 2 * 255 * 32000 * 12  # 2B rows x (T - 1) positions x vocab x 12 bytes per logit
    assert any("reference: a no-grad forward with the adapters off" in n for n in b.notes)
    from tunesmith import methods

    full = dpo.model_copy(deep=True)
    full.method = methods.options(name="full")
    assert any("cached by one pass" in n for n in est.estimate(full, "cpu", shape).notes)
