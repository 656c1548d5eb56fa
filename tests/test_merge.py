"""tunesmith merge: LoRA/DoRA/AdaLoRA/IA3 fold into the base; the result loads in plain transformers with
the logits of base + adapter (fp32: max |diff| <= 1e-4 x the largest logit; merging reorders the float
sums, W·x + s·B(A·x) vs (W + s·BA)·x); the other methods refuse with the reason."""

import json

import pytest
import torch
import yaml

from run_factory import make_run
from tunesmith.errors import TunesmithError
from tunesmith.export.merge import REPORT_FILE, merge_run

PROBES = ["The sea is calm tonight.", "你好，世界", "Human: hi\n"]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    from tunesmith.testing import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("base"))


def _logits(model, tokenizer):
    ids = torch.tensor([tokenizer(" ".join(PROBES)).input_ids])
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("method", ["lora", "dora", "adalora", "ia3"])
def test_merge_matches_base_plus_adapter(tmp_path, base_dir, method):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = make_run(tmp_path / "run", method, base_dir=base_dir, scale=0.1)
    report = merge_run(run, tmp_path / "merged")
    assert report.relative_diff <= report.tolerance == 1e-4
    assert report.adapter == {"lora": "LoRA", "dora": "DoRA", "adalora": "AdaLoRA", "ia3": "IA3"}[method]

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval()
    assert not any("lora" in n or "ia3" in n for n, _ in merged.named_parameters())
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    reference = PeftModel.from_pretrained(base, run / "adapter").eval()
    expected, got = _logits(reference, tokenizer), _logits(merged, tokenizer)
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 1e-4 * scale
    plain = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    assert (_logits(plain, tokenizer) - got).abs().max() > 1e-2 * scale  # the adapter mattered
    # the merged folder carries the run's template as Jinja, and a record of the check
    assert "Human: " in tokenizer.chat_template and "Assistant:" in tokenizer.chat_template
    record = json.loads((tmp_path / "merged" / REPORT_FILE).read_text())
    assert record["template"]["name"] == "llama2-zh" and record["max_abs_diff"] == report.max_abs_diff


@pytest.mark.parametrize("method,words", [("prefix", "prefix tuning"), ("prompt", "prompt tuning"),
                                          ("ptuning", "p-tuning")])
def test_prompt_learning_cannot_merge(tmp_path, base_dir, method, words):
    run = make_run(tmp_path / "run", method, base_dir=base_dir)
    with pytest.raises(TunesmithError, match=f"cannot merge a {words} adapter") as info:
        merge_run(run, tmp_path / "merged")
    assert "use the run folder" in info.value.hint
    assert not (tmp_path / "merged").exists()


def test_full_run_has_nothing_to_merge(tmp_path, base_dir):
    run = make_run(tmp_path / "run", "full", base_dir=base_dir)
    with pytest.raises(TunesmithError, match="already is a complete model"):
        merge_run(run, tmp_path / "merged")


def test_quantized_base_refuses_unless_dequantize(tmp_path, base_dir):
    run = make_run(tmp_path / "run", "lora", base_dir=base_dir)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["load_in_4bit"] = True
    cfg["method"]["name"] = "qlora"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(TunesmithError, match="4-bit quantized base") as info:
        merge_run(run, tmp_path / "merged")
    assert "--dequantize" in info.value.hint
    report = merge_run(run, tmp_path / "merged", dequantize=True)
    assert report.dequantized and "full-precision" in report.note
    assert json.loads((tmp_path / "merged" / REPORT_FILE).read_text())["dequantized"] is True


def test_existing_output_is_not_overwritten_without_force(tmp_path, base_dir):
    run = make_run(tmp_path / "run", "lora", base_dir=base_dir)
    out = tmp_path / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(TunesmithError, match="not empty"):
        merge_run(run, out)
    assert (out / "keep.txt").read_text() == "mine"
    merge_run(run, out, force=True)
    assert (out / "config.json").is_file() and not (out / "keep.txt").exists()
