"""A .gguf model converts once into $TUNESMITH_HOME/gguf/ and later opens read the converted folder,
with the same logits as transformers' own GGUF load; a changed file converts again, and a conversion
that fails half-way leaves nothing that looks converted."""

import os

import pytest
import torch

from tunesmith.config import ModelConfig
from tunesmith.export.export_run import export_gguf
from tunesmith.model import gguf_cache, load


@pytest.fixture
def tiny_gguf(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("TUNESMITH_HOME", str(tmp_path / "home"))
    path = tmp_path / "tiny.f32.gguf"
    export_gguf(tiny_model_dir, path, type="f32", verify=False)
    return path


@pytest.fixture
def conversions(monkeypatch):
    calls = []
    real = gguf_cache.convert

    def counted(gguf, target, marker):
        calls.append(gguf)
        return real(gguf, target, marker)

    monkeypatch.setattr(gguf_cache, "convert", counted)
    return calls


def _logits(model, tokenizer):
    ids = torch.tensor([tokenizer("Human: tell me a story\n").input_ids])
    with torch.no_grad():
        return model(ids).logits


def test_second_open_reads_the_converted_folder(tiny_gguf, conversions, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = ModelConfig(path=str(tiny_gguf))
    assert load.resolve(cfg).kind == "gguf"                       # resolving alone converts nothing
    first = _logits(*load.load(cfg, torch.device("cpu")))
    assert len(conversions) == 1
    folder = gguf_cache.cached(tiny_gguf)
    assert folder is not None and folder.parent == tmp_path / "home" / "gguf"
    assert load.resolve(cfg) == load.ModelSource("folder", str(folder))
    second = _logits(*load.load(cfg, torch.device("cpu")))
    assert len(conversions) == 1                                  # not converted again
    direct = _logits(AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name,
                                                          dtype=torch.float32),
                     AutoTokenizer.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name))
    assert torch.equal(first, second) and torch.equal(first, direct)


def test_a_changed_file_converts_again(tiny_gguf, conversions):
    cfg = ModelConfig(path=str(tiny_gguf))
    load.load_tokenizer(cfg)                                      # the tokenizer alone converts too
    assert len(conversions) == 1
    st = tiny_gguf.stat()
    os.utime(tiny_gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert gguf_cache.cached(tiny_gguf) is None
    load.load_tokenizer(cfg)
    assert len(conversions) == 2


def test_a_failed_conversion_leaves_nothing_that_looks_converted(tiny_gguf, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", disk_full)
    with pytest.raises(OSError):
        load.load(ModelConfig(path=str(tiny_gguf)), torch.device("cpu"))
    assert gguf_cache.cached(tiny_gguf) is None
    assert not gguf_cache.folder_for(tiny_gguf).exists()
