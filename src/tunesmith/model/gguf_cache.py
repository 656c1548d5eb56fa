"""A .gguf model converted once to a plain safetensors folder under `$TUNESMITH_HOME/gguf/`, then reused.

transformers dequantizes every tensor of a GGUF file each time it loads one (about a minute for
SmolLM2-135M on a laptop CPU); the converted folder loads in seconds. The folder is keyed on the
file's resolved path, size and modification time, so a replaced or rewritten file converts again,
and it is written through `io.atomic_dir`: a killed conversion never leaves a folder that looks
done. The embedded models (`models pull`) are converted by the same `convert`.

The weights are saved in fp32: dequantized GGUF blocks are exact there, not in bf16/fp16 (a 7B
file takes about 28 GB of cache; delete `$TUNESMITH_HOME/gguf/` to reclaim it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tunesmith import paths
from tunesmith.io import atomic_dir
from tunesmith.model import loading

MARKER = "tunesmith-model.json"  # in every converted folder: where it came from (export reads `source`)


def folder_for(gguf: Path) -> Path:
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return paths.home() / "gguf" / f"{gguf.stem}-{key}"


def cached(gguf: Path) -> Path | None:
    """The converted folder of `gguf`, if this very file (same path, size and mtime) was converted."""
    folder = folder_for(gguf)
    return folder if (folder / MARKER).is_file() else None


def ensure(gguf: Path) -> Path:
    """The converted folder of `gguf`, converting it first if needed."""
    found = cached(gguf)
    if found is not None:
        return found
    target = folder_for(gguf)
    with loading.phase(f"and converting {gguf} once", detail=f"later starts read {target}", label="gguf conversion"):
        return convert(gguf, target, {"source": str(gguf.resolve()), "bytes": gguf.stat().st_size})


def convert(gguf: Path, target: Path, marker: dict) -> Path:
    """Dequantize `gguf` into a transformers folder (weights, tokenizer, chat template) at `target`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)  # the weights are dequantized fp32 now
    # Chat models in GGUF end their turns with the template's end token; make generation stop there.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with atomic_dir(target) as staging:  # a half-written folder never looks converted
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps(marker, indent=2))
    return target
