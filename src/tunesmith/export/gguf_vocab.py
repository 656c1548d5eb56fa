"""The tokenizer of a transformers model, as GGUF metadata (llama.cpp's `tokenizer.ggml.*` keys).

Two tokenizer families cover the Llama family:
- SentencePiece-style BPE (Llama 1/2, Mistral, the tiny test tokenizer): GGUF model `llama`. Pieces
  keep their `▁`, byte pieces `<0x0A>` are typed BYTE, and each piece needs a score, because llama.cpp
  merges by score. The real scores come from `tokenizer.model` when it is at hand; otherwise pieces are
  scored by id, which is SentencePiece's own order (it sorts pieces by score).
- byte-level BPE (GPT-2 style: SmolLM2, Llama 3): GGUF model `gpt2`, with the merges, and a
  pre-tokenizer name that tells llama.cpp how to split text before merging.
Anything else is refused with a message rather than written as a file that tokenizes wrongly.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import TunesmithError

log = logging.getLogger(__name__)

# gguf.TokenType values (kept as ints so this module does not need gguf to import)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")

# llama.cpp's name for the Llama-3 split regex (the only non-GPT-2 regex we recognise by content)
_LLAMA3_SPLIT_START = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"


@dataclass
class GgufVocab:
    model: str                       # "llama" or "gpt2"
    pre: str                         # llama.cpp pre-tokenizer name
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    add_space_prefix: bool | None = None
    special_ids: dict[str, int] = field(default_factory=dict)   # bos, eos, unk, pad
    add_bos: bool = False
    add_eos: bool = False

    def write(self, writer) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.merges:
            writer.add_token_merges(self.merges)
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        setters = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
                   "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
        for name, token_id in self.special_ids.items():
            setters[name](token_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)


def build(tokenizer, n_vocab: int, pre_hint: str | None = None, sp_model: str | Path | None = None) -> GgufVocab:
    """The GGUF vocabulary of `tokenizer` for a model with `n_vocab` embedding rows; `sp_model` is the
    tokenizer.model it came from, when the tokenizer's own folder does not have it (a run's tokenizer/)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TunesmithError(f"GGUF export needs a fast tokenizer; {type(tokenizer).__name__} has no tokenizer.json form",
                             "load the tokenizer with model.use_fast_tokenizer=true")
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise TunesmithError(f"GGUF export supports BPE tokenizers (SentencePiece-style or byte-level); "
                             f"this one is {model.get('type')}")
    tokens, types, specials = _token_table(tokenizer, spec, n_vocab)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    if model.get("byte_fallback"):
        vocab = GgufVocab("llama", "default", tokens, types, _sp_scores(tokenizer, tokens, types, sp_model),
                          merges, add_space_prefix=_adds_space_prefix(spec))
    elif _is_byte_level(spec):
        vocab = GgufVocab("gpt2", pre_hint or _pre_name(spec), tokens, types, None, merges)
    else:
        raise TunesmithError("GGUF export supports SentencePiece-style (byte fallback) and byte-level (GPT-2 style) "
                             "BPE tokenizers; this BPE tokenizer is neither")
    vocab.special_ids = specials
    vocab.add_bos, vocab.add_eos = _adds_bos_eos(tokenizer)
    return vocab


def _token_table(tokenizer, spec: dict, n_vocab: int) -> tuple[list[str], list[int], dict[str, int]]:
    by_id: dict[int, str] = {i: t for t, i in spec["model"]["vocab"].items()}
    added = {a["id"]: a for a in spec.get("added_tokens") or []}
    for i, a in added.items():
        by_id[i] = a["content"]
    if max(by_id) >= n_vocab:
        raise TunesmithError(f"the tokenizer has ids up to {max(by_id)} but the model has only {n_vocab} embedding "
                             "rows", "save the tokenizer the model was trained with next to it")
    unk_id = tokenizer.unk_token_id
    tokens, types = [], []
    for i in range(n_vocab):
        text = by_id.get(i)
        if text is None:  # embedding rows past the tokenizer (padding to a multiple): llama.cpp's convention
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
            continue
        tokens.append(text)
        if i in added:
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        elif i == unk_id:
            types.append(UNKNOWN)
        elif _BYTE_PIECE.fullmatch(text) and spec["model"].get("byte_fallback"):
            types.append(BYTE)
        else:
            types.append(NORMAL)
    for i in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if i is not None and types[i] == NORMAL:
            types[i] = CONTROL
    if unk_id is not None:
        types[unk_id] = UNKNOWN
    specials = {name: getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "unk", "pad")}
    return tokens, types, {k: v for k, v in specials.items() if v is not None}


def _sp_scores(tokenizer, tokens: list[str], types: list[int], sp_model=None) -> list[float]:
    """SentencePiece scores: from tokenizer.model when it matches these pieces, else by id order."""
    model_file = Path(sp_model) if sp_model else _find_sp_model(tokenizer)
    if model_file is not None:
        from sentencepiece import SentencePieceProcessor

        sp = SentencePieceProcessor()
        sp.LoadFromFile(str(model_file))
        n = sp.vocab_size()
        if n <= len(tokens) and all(sp.IdToPiece(i) == tokens[i] for i in range(n)):
            return [sp.GetScore(i) if i < n else -1000.0 for i in range(len(tokens))]
        log.warning("%s does not match the tokenizer's pieces; scoring pieces by id instead", model_file)
    return [0.0 if t in (CONTROL, BYTE, UNKNOWN) else (-1000.0 if t in (USER_DEFINED, UNUSED) else -float(i))
            for i, t in enumerate(types)]


def _find_sp_model(tokenizer) -> Path | None:
    for candidate in (getattr(tokenizer, "vocab_file", None),
                      Path(tokenizer.name_or_path) / "tokenizer.model" if tokenizer.name_or_path else None):
        if candidate and Path(candidate).is_file() and Path(candidate).suffix == ".model":
            return Path(candidate)
    return None


def _adds_space_prefix(spec: dict) -> bool:
    """Does the tokenizer put `▁` before the first word (Llama 2 does)?"""
    text = json.dumps([spec.get("normalizer"), spec.get("pre_tokenizer")])
    if '"Metaspace"' in text:
        return '"prepend_scheme": "never"' not in text and '"add_prefix_space": false' not in text
    return '"Prepend"' in text


def _is_byte_level(spec: dict) -> bool:
    return '"ByteLevel"' in json.dumps(spec.get("pre_tokenizer"))


def _pre_name(spec: dict) -> str:
    """llama.cpp's pre-tokenizer name for a byte-level tokenizer, recognised from its split rules."""
    pre = spec.get("pre_tokenizer") or {}
    text = json.dumps(pre)
    if _LLAMA3_SPLIT_START in text or _LLAMA3_SPLIT_START.replace("\\\\", "\\") in text:
        return "llama-bpe"
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt2"
    log.warning("byte-level tokenizer with a pre-tokenizer llama.cpp may not know (%s); writing 'gpt2'", text[:200])
    return "gpt2"


def _adds_bos_eos(tokenizer) -> tuple[bool, bool]:
    """What the tokenizer adds around plain text, observed rather than read from flags that vary by version."""
    ids = tokenizer("a").input_ids
    plain = tokenizer("a", add_special_tokens=False).input_ids
    bos = tokenizer.bos_token_id is not None and len(ids) > len(plain) and ids[0] == tokenizer.bos_token_id
    eos = tokenizer.eos_token_id is not None and len(ids) > len(plain) and ids[-1] == tokenizer.eos_token_id
    return bos, eos


def source_pre(gguf_file: str | Path) -> str | None:
    """The pre-tokenizer name a GGUF file (such as the one an embedded model came from) was written with."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_file))
    field_ = reader.fields.get("tokenizer.ggml.pre")
    return field_.contents() if field_ is not None else None
