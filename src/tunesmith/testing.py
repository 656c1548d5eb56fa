"""Tiny, deterministic Llama models for tests, benchmarks and demos that must not touch a hub.

`tiny_llama(folder)` writes a 2-layer, hidden-64 Llama with random weights and the shipped
600-piece SentencePiece tokenizer (Llama-style: <unk>, <s>, </s>, byte fallback, covers Chinese)
into `folder`, loadable by `AutoModelForCausalLM.from_pretrained(folder)` and by tunesmith.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def tiny_tokenizer_dir() -> Path:
    return Path(str(resources.files("tunesmith") / "resources" / "tiny-tokenizer"))


def tiny_llama_config(**overrides):
    from transformers import LlamaConfig

    settings = dict(vocab_size=600, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                    rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    settings.update(overrides)
    return LlamaConfig(**settings)


def tiny_llama(folder: str | Path, seed: int = 0, chat_template: str | None = None, **config) -> Path:
    """Write a tiny random Llama + tokenizer folder and return its path."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(**config))
    model.save_pretrained(folder)
    for f in tiny_tokenizer_dir().iterdir():
        shutil.copy(f, folder / f.name)
    if chat_template is not None:
        tok = AutoTokenizer.from_pretrained(folder)
        tok.chat_template = chat_template
        tok.save_pretrained(folder)
    return folder
