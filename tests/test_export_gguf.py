"""tunesmith export --gguf: Llama weights + tokenizer + chat template in one file, loaded back by
transformers' GGUF loader with the same tokens and logits (f32 exact, f16 <= 1e-2, q8_0 <= 1e-1 of the
largest logit with >= 90% same top token), and by llama.cpp where llama-cpp-python is installed."""

import gguf as gguf_pkg
import pytest
import torch

from run_factory import make_run
from tunesmith.errors import TunesmithError
from tunesmith.export import gguf
from tunesmith.export.export_run import export_gguf


def _fields(path):
    reader = gguf_pkg.GGUFReader(str(path))
    return reader, {k: f for k, f in reader.fields.items()}


@pytest.mark.parametrize("type_", ["f16", "q8_0"])
def test_tiny_llama_folder_round_trip(tmp_path, tiny_model_dir, type_):
    done = export_gguf(tiny_model_dir, tmp_path / f"tiny.{type_}.gguf", type=type_)
    assert done.verification.ok, done.verification.describe()
    assert done.verification.tokens_match
    reader, fields = _fields(done.written.path)
    assert fields["general.architecture"].contents() == "llama"
    assert fields["tokenizer.ggml.model"].contents() == "llama"      # SentencePiece-style
    assert len(fields["tokenizer.ggml.tokens"].data) == 600
    assert fields["tokenizer.ggml.add_space_prefix"].contents() is True
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.attn_norm.weight"] == "F32"
    assert kinds["blk.0.attn_q.weight"] == {"f16": "F16", "q8_0": "Q8_0"}[type_]
    assert "output.weight" in kinds                                   # the tiny model does not tie embeddings


def test_f32_is_exact_and_qk_permutation_is_undone(tmp_path, tiny_model_dir):
    done = export_gguf(tiny_model_dir, tmp_path / "tiny.f32.gguf", type="f32")
    assert done.verification.max_abs_diff == 0.0


def test_run_folder_exports_merged_weights_and_run_template(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export.merge import merge_run

    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir, scale=0.1)
    done = export_gguf(run, tmp_path / "run.gguf", type="f16")
    assert done.verification.ok and "LoRA" in done.merge_note
    tok = AutoTokenizer.from_pretrained(tmp_path, gguf_file="run.gguf")
    assert "Assistant:" in tok.chat_template                          # the llama2-zh template the run used
    # the file holds the merged model, not the base
    merge_run(run, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="run.gguf", dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    ids = torch.tensor([tok("Human: tell me a story\n").input_ids])
    with torch.no_grad():
        want, got, plain = merged(ids).logits, loaded(ids).logits, base(ids).logits
    scale = want.abs().max()
    assert (want - got).abs().max() <= 1e-2 * scale
    assert (plain - got).abs().max() > 5e-2 * scale


def test_full_run_exports_with_sentencepiece_scores(tmp_path, tiny_model_dir):
    import sentencepiece

    run = make_run(tmp_path / "full-run", "full", base_dir=tiny_model_dir)
    done = export_gguf(run, tmp_path / "full.gguf", type="f16")
    assert done.verification.ok, done.verification.describe()
    _, fields = _fields(done.written.path)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(tiny_model_dir / "tokenizer.model"))
    scores = list(fields["tokenizer.ggml.scores"].contents())
    # llama.cpp merges SentencePiece pieces by score: the real ones, although run/model/ has no tokenizer.model
    assert scores[:sp.vocab_size()] == pytest.approx([sp.GetScore(i) for i in range(sp.vocab_size())])


def test_refusals(tmp_path, tiny_model_dir):
    run = make_run(tmp_path / "run", "prefix", base_dir=tiny_model_dir)
    with pytest.raises(TunesmithError, match="cannot merge a prefix tuning adapter"):
        export_gguf(run, tmp_path / "p.gguf")
    with pytest.raises(TunesmithError, match="should end in .gguf"):
        export_gguf(tiny_model_dir, tmp_path / "p.bin")
    with pytest.raises(TunesmithError, match="unknown GGUF type"):
        export_gguf(tiny_model_dir, tmp_path / "p.gguf", type="q4_k")
    (tmp_path / "exists.gguf").write_bytes(b"x")
    with pytest.raises(TunesmithError, match="exists"):
        export_gguf(tiny_model_dir, tmp_path / "exists.gguf")
    from transformers import GPT2Config

    with pytest.raises(TunesmithError, match="supports the Llama architecture"):
        gguf.check_architecture(GPT2Config())
    assert not (tmp_path / "p.gguf").exists()


def test_llama_cpp_reads_the_file(tmp_path, tiny_model_dir):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (it builds from source)")
    from tunesmith.config import ModelConfig
    from tunesmith.model.load import load_tokenizer

    done = export_gguf(tiny_model_dir, tmp_path / "tiny.gguf", type="f16")
    llm = llama_cpp.Llama(model_path=str(done.written.path), n_ctx=256, logits_all=True, verbose=False)
    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_model_dir)))
    for text in gguf.PROBE_TEXTS:
        assert llm.tokenize(text.encode(), add_bos=True) == tokenizer(text).input_ids, text
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    ids = tokenizer(gguf.PROBE_TEXTS[0]).input_ids
    llm.eval(ids)
    got = torch.tensor(llm.scores[: len(ids)])
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0]
    assert (want - got).abs().max() <= 1e-2 * want.abs().max()


@pytest.mark.slow
def test_smollm2_byte_level_bpe_round_trip(tmp_path, smollm2_dir):
    done = export_gguf(smollm2_dir, tmp_path / "smollm2.q8_0.gguf", type="q8_0")
    assert done.verification.ok, done.verification.describe()
    _, fields = _fields(done.written.path)
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"        # carried over from the source GGUF
    assert "<|im_start|>" in fields["tokenizer.chat_template"].contents()
