"""Loading models: folders, GGUF files, embedded names, and the errors a user can make."""

import subprocess
import sys

import pytest
import torch

from tunesmith.config import ModelConfig
from tunesmith.errors import ModelLoadError
from tunesmith.model import load as model_load


def test_folder_loads_model_and_tokenizer(tiny_model_dir):
    model, tok = model_load.load(ModelConfig(path=str(tiny_model_dir), dtype="fp32"))
    assert model.config.model_type == "llama"
    assert len(tok) == 600 and tok.bos_token_id == 1 and tok.eos_token_id == 2
    assert tok.pad_token is not None  # always set: the collator masks by position, not by pad id
    assert model.dtype == torch.float32 and model.device.type == "cpu"


def test_dtype_is_applied(tiny_model_dir):
    model = model_load.load_model(ModelConfig(path=str(tiny_model_dir), dtype="bf16"))
    assert model.dtype == torch.bfloat16


def test_slow_tokenizer_is_expressible(tiny_model_dir):
    tok = model_load.load_tokenizer(ModelConfig(path=str(tiny_model_dir), use_fast_tokenizer=False))
    assert len(tok) == 600


@pytest.mark.parametrize("path, message", [
    ("./no/such/folder", "does not exist"),
    ("/definitely/not/here", "does not exist"),
])
def test_missing_paths_say_so(path, message):
    with pytest.raises(ModelLoadError, match=message):
        model_load.resolve(ModelConfig(path=path))


def test_folder_without_config(tmp_path):
    (tmp_path / "weights.gguf").write_bytes(b"x")
    with pytest.raises(ModelLoadError) as e:
        model_load.resolve(ModelConfig(path=str(tmp_path)))
    assert "without config.json" in e.value.message and "gguf_file=weights.gguf" in e.value.hint


def test_file_that_is_not_gguf(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="not a .gguf file"):
        model_load.resolve(ModelConfig(path=str(f)))


def test_hub_id_offline_explains_how_to_pass_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as e:
        model_load.load_tokenizer(ModelConfig(path="meta-llama/Llama-2-7b-hf"))
    assert "hub is not reachable" in e.value.message
    assert "model.path=DIR" in e.value.hint


def test_quantization_without_bitsandbytes_names_the_option(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as if not installed
    with pytest.raises(ModelLoadError) as e:
        model_load.quantization_config(ModelConfig(load_in_8bit=True), torch.float32)
    assert "model.load_in_8bit" in e.value.message and "bitsandbytes" in e.value.hint
    with pytest.raises(ModelLoadError, match="choose one"):
        model_load.quantization_config(ModelConfig(load_in_8bit=True, load_in_4bit=True), torch.float32)


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "tunesmith", "chat", str(tmp_path / "nope"), "--prompt", "hi"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"error: no such run folder or model: {tmp_path / 'nope'}")
    assert "Traceback" not in bad.stderr and len(bad.stderr.splitlines()) == 2


@pytest.mark.slow
def test_smollm2_pull_matches_gguf_and_answers_paris(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.model import catalog

    plain = AutoModelForCausalLM.from_pretrained(smollm2_dir)  # no gguf_file: a plain safetensors folder
    gguf = catalog.gguf_path("smollm2")
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    for prompt in ["What is the capital of France?", "写一首关于大海的诗", "def fib(n):"]:
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            diff = (plain(ids).logits - direct(ids).logits).abs().max().item()
        assert diff < 1e-4, (prompt, diff)

    out = subprocess.run([sys.executable, "-m", "tunesmith", "chat", "smollm2", "--prompt",
                          "What is the capital of France?", "--max-new-tokens", "20"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout


def test_gguf_file_loads_like_its_source_folder(tmp_path, tiny_model_dir):
    """A .gguf path in model.path: dequantized weights, a trainable (non-quantized) model, same logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import gguf

    source = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    gguf.write(source, AutoTokenizer.from_pretrained(tiny_model_dir), tmp_path / "tiny.gguf", type="f32")
    model, tok = model_load.load(ModelConfig(path=str(tmp_path / "tiny.gguf"), dtype="fp32"))
    assert getattr(model, "hf_quantizer", None) is None  # would make save_pretrained and training refuse it
    ids = tok("The quick brown fox 你好", return_tensors="pt").input_ids
    assert ids[0].tolist() == AutoTokenizer.from_pretrained(tiny_model_dir)("The quick brown fox 你好").input_ids
    with torch.no_grad():
        assert (model(ids).logits - source(ids).logits).abs().max().item() < 1e-5
    model.save_pretrained(tmp_path / "saved")  # refused by transformers while still marked quantized
