"""Tokenizer + causal LM from an embedded name, a local folder, a GGUF file, or a hub id.

A local GGUF file is converted once to a safetensors folder (`gguf_cache`) and read from there after;
a name that looks like a path and names nothing fails at once, and a hub id is looked up only when
the hub can answer (`locate`). Each loading phase says what it loads (`loading`, stderr in the CLI).

The chapter's own call is one config block:

    model: {path: meta-llama/Llama-2-7b-chat-hf, device_map: auto, dtype: fp16, load_in_8bit: true,
            use_fast_tokenizer: false}

Everything a user can get wrong here (a missing path, no hub, 8-bit without bitsandbytes, fp16 on a
CPU) becomes a `ModelLoadError` that names the key and what to do instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from tunesmith.config import ModelConfig
from tunesmith.errors import ModelLoadError
from tunesmith.model import gguf_cache, loading, locate

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class ModelSource:
    """Where the weights are: `kind` is folder, gguf or hub; `gguf_file` is set for GGUF sources."""
    kind: str
    location: str
    gguf_file: str | None = None


def resolve(cfg: ModelConfig) -> ModelSource:
    """Decide what `model.path` names, pulling an embedded model on first use."""
    from tunesmith.model import catalog

    path = cfg.path
    if path in catalog.EMBEDDED:
        return ModelSource("folder", str(catalog.ensure(path)))
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix != ".gguf":
            raise ModelLoadError(f"model.path '{path}' is a file but not a .gguf file",
                                 "point model.path at a model folder (with config.json) or a .gguf file")
        return _gguf_source(p)
    if p.is_dir():
        if cfg.gguf_file:
            if not (p / cfg.gguf_file).is_file():
                raise ModelLoadError(f"model.gguf_file '{cfg.gguf_file}' not found in {p}")
            return _gguf_source(p / cfg.gguf_file)
        if not (p / "config.json").is_file():
            ggufs = sorted(x.name for x in p.glob("*.gguf"))
            hint = (f"it holds {ggufs[0]}: set model.gguf_file={ggufs[0]}" if ggufs
                    else "a transformers model folder has config.json and *.safetensors")
            raise ModelLoadError(f"model.path '{path}' is a folder without config.json", hint)
        return ModelSource("folder", str(p))
    known = tuple(catalog.EMBEDDED)
    if locate.looks_like_path(path):
        raise locate.missing_path(path, f"model.path '{path}' does not exist",
                                  f"give a model folder, a .gguf file, a hub id like meta-llama/Llama-2-7b-hf, "
                                  f"or an embedded model ({', '.join(known)})", known)
    return hub_source(cfg)


def hub_source(cfg: ModelConfig) -> ModelSource:
    """A hub id: fetched through the hub when it answers, else read from the local cache, else one line."""
    offline = locate.hub_offline_reason()
    if offline is None:
        return ModelSource("hub", cfg.path, cfg.gguf_file)
    cached = locate.cached_snapshot(cfg.path, cfg.revision)
    if cached is not None:
        log.info("%s: %s, using the copy in the local Hugging Face cache", cfg.path, offline)
        return ModelSource("gguf" if cfg.gguf_file else "folder", str(cached), cfg.gguf_file)
    close = locate.closest_path(cfg.path)
    meant = f"; if you meant the local path {close}, give that" if close else ""
    raise ModelLoadError(f"cannot fetch '{cfg.path}' from the hub: the hub is not reachable from here ({offline}), "
                         "and it is not in the local cache",
                         f"download it where the hub is reachable (huggingface-cli download {cfg.path} --local-dir DIR) "
                         f"and set model.path=DIR{meant}")


def _gguf_source(gguf: Path) -> ModelSource:
    """A local .gguf file: its converted folder once there is one (resolving stays cheap: converting
    waits for the first load, see `_converted`)."""
    folder = gguf_cache.cached(gguf)
    return ModelSource("folder", str(folder)) if folder else ModelSource("gguf", str(gguf.parent), gguf.name)


def _converted(source: ModelSource) -> ModelSource:
    """A local GGUF source as its converted folder, converting it on first use (hub GGUFs stay as they are)."""
    if source.kind != "gguf":
        return source
    return ModelSource("folder", str(gguf_cache.ensure(Path(source.location) / source.gguf_file)))


def pick_dtype(cfg: ModelConfig, device: torch.device) -> torch.dtype:
    if cfg.dtype != "auto":
        dtype = DTYPES[cfg.dtype]
        if dtype == torch.float16 and device.type == "cpu":
            log.warning("model.dtype=fp16 on CPU is slow and loses precision; bf16 or fp32 is better there")
        return dtype
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(cfg: ModelConfig, source: ModelSource | None = None):
    from transformers import AutoTokenizer

    source = _converted(source or resolve(cfg))
    kwargs = _hub_kwargs(cfg, source)
    try:
        with loading.phase("the tokenizer", source.location):
            tok = AutoTokenizer.from_pretrained(source.location, use_fast=cfg.use_fast_tokenizer, **kwargs)
    except (OSError, ValueError) as e:
        raise _load_error("tokenizer", source, e) from None
    # transformers 5 drops a leading "▁" that sentencepiece keeps (" lead"): check and repair.
    from tunesmith.text.spm import ensure_faithful

    ensure_faithful(tok)
    if tok.pad_token is None:
        # Labels never come from the pad id (the collator masks by position), so pad = eos or unk
        # cannot hide the end token from the loss: the classic "model never stops" bug cannot happen.
        tok.pad_token = tok.unk_token or tok.eos_token
    return tok


def load_model(cfg: ModelConfig, source: ModelSource | None = None, device: torch.device | None = None):
    from transformers import AutoModelForCausalLM

    source = _converted(source or resolve(cfg))
    device = device or default_device()
    dtype = pick_dtype(cfg, device)
    kwargs = dict(_hub_kwargs(cfg, source), dtype=dtype, attn_implementation=cfg.attn_implementation)
    quant = quantization_config(cfg, dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
    if cfg.device_map:
        kwargs["device_map"] = cfg.device_map
    detail = f"{str(dtype).removeprefix('torch.')} on {device.type}" + (", quantized" if quant is not None else "")
    try:
        with loading.phase("the weights", source.location, detail):
            model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as e:
        raise _load_error("model", source, e) from None
    if source.gguf_file and getattr(model, "hf_quantizer", None) is not None:
        # transformers dequantizes GGUF weights on load but still marks the model as quantized,
        # which makes save_pretrained and training refuse it. The weights are plain tensors now.
        model.hf_quantizer.remove_quantization_config(model)
    if not cfg.device_map and quant is None:
        model.to(device)
    return model


def load(cfg: ModelConfig, device: torch.device | None = None):
    """(model, tokenizer) as the config asks."""
    source = _converted(resolve(cfg))
    return load_model(cfg, source, device), load_tokenizer(cfg, source)


def quantization_config(cfg: ModelConfig, dtype: torch.dtype):
    if cfg.load_in_8bit and cfg.load_in_4bit:
        raise ModelLoadError("model.load_in_8bit and model.load_in_4bit are both true", "choose one")
    if not (cfg.load_in_8bit or cfg.load_in_4bit):
        return None
    key = "model.load_in_8bit" if cfg.load_in_8bit else "model.load_in_4bit"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelLoadError(f"{key} needs the bitsandbytes package, which is not installed",
                             f"pip install bitsandbytes (CUDA; recent releases also run on CPU), "
                             f"or set {key}=false and use model.dtype=bf16") from None
    from transformers import BitsAndBytesConfig

    if cfg.load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = dtype if dtype != torch.float32 or not torch.cuda.is_available() else torch.bfloat16
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def _hub_kwargs(cfg: ModelConfig, source: ModelSource) -> dict:
    kwargs: dict = {}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if source.kind == "hub":
        kwargs["revision"] = cfg.revision
        kwargs["trust_remote_code"] = cfg.trust_remote_code
    return kwargs


def _load_error(what: str, source: ModelSource, err: Exception) -> ModelLoadError:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if source.kind == "hub":
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or "connect" in text.lower() or "offline" in text.lower()
        why = "the hub is not reachable from here" if offline else text
        return ModelLoadError(f"cannot fetch the {what} '{source.location}' from the hub: {why}",
                              "download it where a hub is reachable (huggingface-cli download "
                              f"{source.location} --local-dir DIR) and set model.path=DIR")
    where = Path(source.location) / source.gguf_file if source.gguf_file else Path(source.location)
    return ModelLoadError(f"cannot load the {what} from {where}: {text}")
