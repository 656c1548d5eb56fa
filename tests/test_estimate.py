"""`tunesmith estimate`: exact parameter counts, peaks close to measured ones, suggestions that fit."""

from __future__ import annotations

import pytest

from tunesmith.cli import main
from tunesmith.errors import ConfigError
from tunesmith.runs.config import RunConfig
from tunesmith.train import estimate as est

GiB = 1024 ** 3


def cfg(**blocks) -> RunConfig:
    raw = {"model": {"path": "meta-llama/Llama-2-7b-hf", "dtype": "bf16"}, "template": {"max_seq_len": 2048},
           "method": {"name": "lora", "r": 16}, "train": {"micro_batch_size": 4}}
    for block, values in blocks.items():  # another method's block has its own keys: it replaces lora's
        raw[block] = values if block == "method" and values.get("name", "lora") != "lora" else {**raw[block], **values}
    return RunConfig.model_validate(raw)


@pytest.mark.parametrize("blocks, measured_gib", [
    # PEERS.md, one H200, HF + PEFT: Llama-2-7B shape, LoRA r16 all-linear, micro-batch 4 x 2048, bf16
    ({}, 87),
    ({"train": {"gradient_checkpointing": True}}, 25),
])
def test_peak_is_within_15_percent_of_measured_runs(blocks, measured_gib):
    peak = est.estimate(cfg(**blocks), "cuda").peak / GiB
    assert abs(peak - measured_gib) / measured_gib < 0.15, peak


def test_full_finetune_tinyllama_shape_within_15_percent():
    from transformers import LlamaConfig

    hf = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                     num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False)
    c = cfg(model={"dtype": "fp32"}, method={"name": "full"}, train={"micro_batch_size": 8, "precision": "bf16"})
    peak = est.estimate(c, "cuda", hf).peak / GiB
    assert abs(peak - 58) / 58 < 0.15, peak  # measured: 58 GiB


@pytest.mark.parametrize("method", ["full", "freeze", "lora", "dora", "ia3", "prefix", "prompt", "ptuning", "adalora"])
def test_trainable_count_is_exact(tiny_model_dir, method):
    from transformers import AutoModelForCausalLM

    from tunesmith import methods

    c = RunConfig.model_validate({"model": {"path": str(tiny_model_dir)}, "method": {"name": method}})
    total, trainable, _ = est.count_parameters(c, est.model_config(c))
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
