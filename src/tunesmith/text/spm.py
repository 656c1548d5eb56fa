"""Tokenizer fidelity: a Llama SentencePiece tokenizer loaded through transformers must give the ids
`sentencepiece` itself gives, because that is what the model was trained on.

transformers 5 builds Llama tokenizers on the `tokenizers` library with a Metaspace pre-tokenizer
that prepends the "▁" word marker only when the text does not already start with one. SentencePiece
always adds it (add_dummy_prefix), so text that starts with a space (" lead") or a run of spaces
loses a "▁" token: different ids than Meta's tokenizer for every such turn. The repair is the one the
old LlamaTokenizerFast used (a normalizer that prepends "▁" and replaces spaces) plus sentencepiece's
word split. Where the converted BPE merges still disagree with sentencepiece's score-ordered merging
(Mistral's 32k model does, on " lead"), rendering encodes text with sentencepiece itself.

`LlamaTokenizer(vocab_file=...)` can also build a 3-token vocabulary without complaint, so the
vocabulary size is checked against the SentencePiece model too.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from tunesmith.errors import ModelLoadError

log = logging.getLogger(__name__)

SP_ATTRIBUTE = "_tunesmith_sentencepiece"  # set on tokenizers whose ids only sentencepiece reproduces
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
    """Ids of `text` as plain text: no BOS/EOS, and special-token strings in it stay text.

    Uses sentencepiece itself where `ensure_faithful` found the tokenizer cannot be repaired to match it.
    """
    sp = getattr(tokenizer, SP_ATTRIBUTE, None)
    if sp is not None:
        return sp.encode(text)
    return tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)


def encode_prompt(tokenizer, text: str) -> list[int]:
    """A raw prompt read as completion servers read it (vLLM, llama.cpp): the tokenizer's BOS when it adds
    one, each special-token string (`</s>`, `<|im_start|>`) as its token, and the text between them as
    plain text, encoded exactly as training rendered text (`encode_plain` after a special token)."""
    specials = sorted({t.content for t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values()
                       if t.special}, key=len, reverse=True)
    bos = tokenizer.bos_token_id
    ids = [bos] if bos is not None and tokenizer("x").input_ids[:1] == [bos] else []
    pieces = re.split("(" + "|".join(map(re.escape, specials)) + ")", text) if specials else [text]
    for i, piece in enumerate(pieces):
        if i % 2:
            ids.append(tokenizer.convert_tokens_to_ids(piece))
        elif piece:
            ids += encode_plain(tokenizer, piece)
    return ids


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
    if repair_normalizer(tokenizer) and not mismatches(tokenizer, sp):
        log.info("tokenizer repaired to match sentencepiece (%s)", model_file)
        return tokenizer
    # The converted merges disagree with sentencepiece's own (score-ordered) merging on this model:
    # tunesmith's rendering then tokenizes with sentencepiece itself.
    text, want, got = mismatches(tokenizer, sp)[0]
    log.info("tokenizer differs from sentencepiece on %r (%s vs %s): rendering uses sentencepiece (%s)",
             text, want, got, model_file)
    setattr(tokenizer, SP_ATTRIBUTE, sp)
    return tokenizer


def repair_normalizer(tokenizer) -> bool:
    """Make a tokenizers-backed Llama tokenizer add SentencePiece's dummy prefix exactly as it does, and
    cut words where it does (a run of spaces belongs to the word after it)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import Regex, normalizers, pre_tokenizers

    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("▁*[^▁]+|▁+"), behavior="isolated")
    return True
