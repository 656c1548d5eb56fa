"""Every shipped config validates, and runs one training step on the tiny Llama with its own method settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith import config
from tunesmith.runs.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
EXAMPLES = [ROOT / "examples" / "quickstart" / "train.yaml", ROOT / "examples" / "alignment" / "train.yaml"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_there_is_a_config_for_every_method_and_model():
    from tunesmith.methods import REGISTRY

    names = {p.stem for p in CONFIGS}
    for model in ("smollm2", "llama2-7b"):
        for method in REGISTRY:
            assert f"{model}-{method}" in names


@pytest.mark.parametrize("path", CONFIGS + EXAMPLES, ids=lambda p: p.stem)
def test_config_validates_and_is_commented(path):
    cfg = config.load(RunConfig, path)
    assert path.read_text().lstrip().startswith("#")
    if path.parent.name == "configs":  # <model>-<method>, or <model>-<objective> for alignment tuning
        assert path.stem.rsplit("-", 1)[-1] in (cfg.method.name, cfg.train.objective)
        assert cfg.output_dir == f"runs/{path.stem}"


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.startswith("smollm2")] + EXAMPLES,
                         ids=lambda p: p.stem)
def test_config_runs_a_step_on_the_tiny_model(path, tiny_model_dir, tmp_path):
    """The method block as shipped, on the tiny model and a tiny data file (the model and data are swapped)."""
    from tunesmith.train.loop import train

    data = tmp_path / "train.jsonl"
    pairs = config.load(RunConfig, path).train.objective != "sft"  # preference objectives train on pairs
    data.write_text("".join(json.dumps({"instruction": f"Say {w}.", "input": "", "output": f"{w} {w}."} if not pairs
                                       else {"prompt": f"Say {w}.", "chosen": f"{w} {w}.", "rejected": "No."}) + "\n"
                            for w in ("apple", "river", "stone", "cloud", "music", "green")))
    cfg = config.load(RunConfig, path, [
        f"model.path={tiny_model_dir}", "model.dtype=fp32", f"data.train=[{data}]", "data.val=[]", "data.val_split=0",
        "template.name=llama2-zh", "train.max_steps=1", "train.micro_batch_size=2", "train.grad_accum=1",
        f"output_dir={tmp_path / 'run'}"])
    if getattr(cfg.method, "prompt_init_text", None):  # prompt tuning only
        cfg.method.prompt_init_text = "Answer briefly."
    result = train(cfg, progress=False)
    assert len(result.losses) == 1 and result.losses[0] > 0
    assert (tmp_path / "run" / ("model" if cfg.method.name in ("full", "freeze") else "adapter")).is_dir()


# SmolLM2-135M-Instruct's shape (the embedded model's config.json), so the estimate needs no pulled model.
SMOLLM2_SHAPE = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                     num_key_value_heads=3, head_dim=64, vocab_size=49152, tie_word_embeddings=True)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.startswith("smollm2")], ids=lambda p: p.stem)
def test_smollm2_config_fits_a_16gb_machine_on_cpu(path):
    """The configs a laptop user starts from: the estimated peak on CPU (worst case: every micro-batch
    max_seq_len long) is at most 10 GiB of the 14.9 GiB in 16 GB; the OS, the Python runtime (~0.7 GiB)
    and other programs keep the rest. The micro-batch of 8 shipped before needed 16-25 GiB. lora, full
    and adalora are also measured in benchmarks/estimate_accuracy.py."""
    from transformers import LlamaConfig

    from tunesmith.train import estimate as est

    cfg = config.load(RunConfig, path)
    peak = est.estimate(cfg, "cpu", LlamaConfig(**SMOLLM2_SHAPE)).peak
    assert peak <= 10 * 1024 ** 3, est.human(peak)
    assert cfg.train.micro_batch_size * cfg.train.grad_accum == 16  # the batch the configs were tuned with
