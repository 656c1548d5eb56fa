"""Write a Llama-architecture transformers model as one GGUF file (llama.cpp, Ollama, LM Studio).

    write(model, tokenizer, "out.gguf", type="q8_0", chat_template=...)   # atomic
    check = verify("out.gguf", model, tokenizer)                        # transformers loads it back

Tensor names and the q/k row permutation follow llama.cpp's convert_hf_to_gguf.py for `llama`:
llama.cpp applies rotary embeddings to interleaved pairs, transformers to two halves, so the rows of
q_proj and k_proj are reordered on the way out (and transformers' GGUF loader undoes it on the way in).
Norms stay F32; f16 stores every matrix as F16; q8_0 stores matrices whose rows split into 32-value
blocks as Q8_0 (others as F16, as llama.cpp does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tunesmith.errors import TunesmithError
from tunesmith.export import gguf_vocab
from tunesmith.io import atomic_path

log = logging.getLogger(__name__)

TYPES = ("f16", "q8_0", "f32")
# Loading the file back must give: max|Δlogit| / max|logit| at most TOLERANCE, and the same top token
# at a share of positions at least TOP1 (8-bit rounding may flip a near tie; f32 must match exactly).
TOLERANCE = {"f32": 1e-5, "f16": 1e-2, "q8_0": 1e-1}
TOP1 = {"f32": 1.0, "f16": 0.97, "q8_0": 0.9}
PROBE_TEXTS = ("The quick brown fox jumps over 13 lazy dogs. How are you today?",
               "你好，请用一句话介绍一下北京。", "  indented\n\tline with tabs and  double spaces")

_LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP_TENSORS = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                "lm_head.weight": "output.weight"}


def check_architecture(config) -> None:
    if getattr(config, "model_type", None) != "llama":
        raise TunesmithError(f"GGUF export supports the Llama architecture; this model is "
                             f"'{getattr(config, 'model_type', '?')}'",
                             "convert other architectures with llama.cpp's convert_hf_to_gguf.py")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise TunesmithError("GGUF export: this Llama model has attention/MLP biases, which the exporter does not write")
    rope = _rope(config)
    if rope.get("rope_type", "default") not in ("default", "linear"):
        raise TunesmithError(f"GGUF export: rope scaling '{rope.get('rope_type')}' is not supported (default and "
                             "linear are)")


def _rope(config) -> dict:
    params = dict(getattr(config, "rope_parameters", None) or {})
    if "rope_theta" not in params:
        params["rope_theta"] = getattr(config, "rope_theta", 10000.0)
    legacy = getattr(config, "rope_scaling", None)
    if legacy and "rope_type" not in params:
        params.update(legacy)
    return params


def permute_qk(weight: torch.Tensor, n_head: int) -> torch.Tensor:
    """transformers' half-split rotary layout -> llama.cpp's interleaved one (rows of q_proj or k_proj)."""
    return (weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


@dataclass
class Written:
    path: Path
    type: str
    tensors: int
    bytes: int


def write(model, tokenizer, out: str | Path, type: str = "f16", chat_template: str | None = None,
          name: str | None = None, pre_hint: str | None = None, sp_model: str | Path | None = None) -> Written:
    """Write `model` + `tokenizer` to `out` (a temporary file renamed into place when complete)."""
    import gguf

    if type not in TYPES:
        raise TunesmithError(f"unknown GGUF type '{type}'", f"choose one of {', '.join(TYPES)}")
    config = model.config
    check_architecture(config)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vocab = gguf_vocab.build(tokenizer, config.vocab_size, pre_hint, sp_model)
    with atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        try:
            _write_metadata(writer, config, type, name or out.stem)
            vocab.write(writer)
            template = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
            if template:
                writer.add_chat_template(template)
            count = _add_tensors(writer, model, config, type)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file(progress=True)
        finally:
            writer.close()
    return Written(out, type, count, out.stat().st_size)


def _write_metadata(writer, config, type: str, name: str) -> None:
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = _rope(config)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // config.num_attention_heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    if rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[type]
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _gguf_name(hf_name: str) -> str | None:
    if hf_name in _TOP_TENSORS:
        return _TOP_TENSORS[hf_name]
    parts = hf_name.split(".")
    if hf_name.startswith("model.layers.") and len(parts) > 3:
        mapped = _LAYER_TENSORS.get(".".join(parts[3:]))
        return f"blk.{parts[2]}.{mapped}" if mapped else None
    return None


def _add_tensors(writer, model, config, type: str) -> int:
    import gguf

    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    tied = bool(getattr(config, "tie_word_embeddings", False))
    count = 0
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when output.weight is absent
        name = _gguf_name(hf_name)
        if name is None:
            if hf_name.endswith("rotary_emb.inv_freq"):
                continue
            raise TunesmithError(f"GGUF export: no GGUF name for tensor '{hf_name}'",
                                 "merge the adapter first (tunesmith merge) so only base Llama tensors remain")
        weight = tensor.detach().to("cpu", torch.float32)
        if name.endswith("attn_q.weight"):
            weight = permute_qk(weight, n_head)
        elif name.endswith("attn_k.weight"):
            weight = permute_qk(weight, n_kv)
        data = weight.numpy()
        if data.ndim == 1 or type == "f32":
            writer.add_tensor(name, data.astype(np.float32))
        elif type == "q8_0" and data.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data.astype(np.float16))
        count += 1
    return count


# ----------------------------------------------------------------------------------------------
# Loading it back
# ----------------------------------------------------------------------------------------------

@dataclass
class Verification:
    max_abs_diff: float
    relative_diff: float
    tolerance: float
    top1_agreement: float
    min_top1: float
    tokens_match: bool
    mismatched_text: str | None = None

    @property
    def ok(self) -> bool:
        return self.tokens_match and self.relative_diff <= self.tolerance and self.top1_agreement >= self.min_top1

    def describe(self) -> str:
        tok = "tokenization identical" if self.tokens_match else f"tokenization differs on {self.mismatched_text!r}"
        return (f"{tok}; logits max |diff| {self.max_abs_diff:.2e} ({self.relative_diff:.2e} of the largest logit, "
                f"tolerance {self.tolerance:.0e}); same top token at {self.top1_agreement:.0%} of positions "
                f"(needed {self.min_top1:.0%})")


def verify(path: str | Path, model, tokenizer, type: str = "f16") -> Verification:
    """Load `path` with transformers' GGUF loader and compare tokenization and logits with the source."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    loaded_tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if _tokenizer_model(path) == "llama":
        # transformers 5 rebuilds a SentencePiece vocabulary with the Metaspace pre-tokenizer that drops
        # the dummy prefix of text starting with spaces; llama.cpp does not. Apply the same repair
        # tunesmith applies to SentencePiece folders (text/spm.py), so the check compares vocabularies.
        from tunesmith.text import spm

        spm.repair_normalizer(loaded_tok)
    mismatch = None
    for text in PROBE_TEXTS:
        if loaded_tok(text).input_ids != tokenizer(text).input_ids:
            mismatch = text
            break
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    loaded.eval()
    ids = torch.tensor([tokenizer(" ".join(PROBE_TEXTS)).input_ids])
    with torch.inference_mode():
        ref = model(input_ids=ids.to(model.device)).logits.float().cpu()
        got = loaded(input_ids=ids).logits.float()
    diff = (ref - got).abs().max().item()
    top1 = (ref.argmax(-1) == got.argmax(-1)).float().mean().item()
    return Verification(diff, diff / max(ref.abs().max().item(), 1e-6), TOLERANCE[type], top1, TOP1[type],
                        mismatch is None, mismatch)


def _tokenizer_model(path: Path) -> str | None:
    import gguf

    field_ = gguf.GGUFReader(str(path)).fields.get("tokenizer.ggml.model")
    return field_.contents() if field_ is not None else None
