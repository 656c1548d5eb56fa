"""Tokenizer fidelity: a Llama SentencePiece tokenizer loaded through transformers must give the ids
`sentencepiece` itself gives, because that is what the model was trained on.

transformers 5 builds Llama tokenizers on the `tokenizers` library with a Metaspace pre-tokenizer
that prepends the "▁" word marker only when the text does not already start with one. SentencePiece
always adds it (add_dummy_prefix), so text that starts with a space (" lead") or a run of spaces
loses a "▁" token: different ids than Meta's tokenizer for every such turn. The fix is the one the
old LlamaTokenizerFast used: a normalizer that prepends "▁" and replaces spaces, no pre-tokenizer.

`LlamaTokenizer(vocab_file=...)` can also build a 3-token vocabulary without complaint, so the
vocabulary size is checked against the SentencePiece model too.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tunesmith.errors import ModelLoadError

log = logging.getLogger(__name__)

# Texts on which the two tokenizers disagree when the dummy prefix is wrong, plus ordinary ones.
PROBES = (" lead", "  two spaces", "lead the way", "a  b   c", "end with space ", "\n starts with newline",
          "tab\there", "你好，世界！ 这是一个测试。", "  你好", "Hello, world! 12345", "[INST] hi [/INST] ok ",
          "Human: hi\n", " ")


def sentencepiece_file(tokenizer) -> Path | None:
    """The tokenizer.model a tokenizer was built from, when it has one."""
    for candidate in (getattr(tokenizer, "vocab_file", None),
                      Path(str(getattr(tokenizer, "name_or_path", "") or "")) / "tokenizer.model"):
        if candidate and Path(candidate).is_file() and Path(candidate).suffix == ".model":
            return Path(candidate)
    return None


def encode_plain(tokenizer, text: str) -> list[int]:
    """Ids of `text` as plain text: no BOS/EOS, and special-token strings in it stay text."""
    return tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)


def mismatches(tokenizer, sp, probes=PROBES) -> list[tuple[str, list[int], list[int]]]:
    """(text, sentencepiece ids, tokenizer ids) for every probe on which they differ."""
    out = []
    for text in probes:
        want, got = sp.encode(text), encode_plain(tokenizer, text)
        if want != got:
            out.append((text, want, got))
    return out


def ensure_faithful(tokenizer, model_file: str | Path | None = None):
    """Check `tokenizer` against its SentencePiece model and repair the known divergence in place.

    Does nothing for tokenizers without a tokenizer.model (BPE tokenizers such as SmolLM2's).
    Raises ModelLoadError when the vocabulary is not the model's; logs a warning when ids still
    differ after the repair (an unusual normalizer).
    """
    model_file = Path(model_file) if model_file else sentencepiece_file(tokenizer)
    if model_file is None:
        return tokenizer
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_file=str(model_file))
    except (OSError, RuntimeError) as e:
        log.warning("cannot open %s to check the tokenizer against it: %s", model_file, e)
        return tokenizer
    size = len(tokenizer)
    if size < sp.get_piece_size():
        raise ModelLoadError(f"the tokenizer loaded from {model_file.parent} has {size} tokens but {model_file.name} "
                             f"has {sp.get_piece_size()}",
                             "load the tokenizer from its folder (AutoTokenizer.from_pretrained(folder)), not "
                             "LlamaTokenizer(vocab_file=...); check tokenizer_config.json")
    if not mismatches(tokenizer, sp):
        return tokenizer
    if _repair(tokenizer, sp):
        left = mismatches(tokenizer, sp)
        if not left:
            log.info("tokenizer repaired to match sentencepiece (%s)", model_file)
            return tokenizer
    else:
        left = mismatches(tokenizer, sp)
    text, want, got = left[0]
    log.warning("tokenizer ids differ from sentencepiece (%s) on %r: %s vs %s; training ids may not match the "
                "model's original tokenization", model_file, text, want, got)
    return tokenizer


def _repair(tokenizer, sp) -> bool:
    """Make a tokenizers-backed Llama tokenizer add SentencePiece's dummy prefix exactly as it does."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import normalizers

    if not sp.encode_as_pieces("a")[0].startswith("▁"):
        return False  # a model without a dummy prefix: not the divergence this repairs
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = None
    return True
