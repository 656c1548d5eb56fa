"""The local backend: a model folder, an embedded model or a run folder, through tunesmith's own
generation (`tunesmith.infer.generate.stream`), so no server is needed.

A run folder (written by `tunesmith train`: config.yaml plus model/ or adapter/) is loaded as it was
trained: a full model from model/, or the base model named in config.yaml with adapter/ on top.
Prompts go through the tokenizer's chat template; a tokenizer without one (a base model) gets the
plain text of the messages, which is what a base model continues best.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from tunesmith.data.synth.cache import Completion
from tunesmith.data.synth.usage import Usage
from tunesmith.errors import ModelLoadError


class LocalBackend:
    def __init__(self, path: str, usage: Usage, temperature: float = 0.7, max_tokens: int = 512,
                 dtype: str = "auto"):
        from tunesmith.infer.generate import Sampling

        self.path = path
        self.usage = usage
        self.model, self.tokenizer, self.model_id = load_for_generation(path, dtype)
        self.model.eval()
        self.sampling = Sampling(max_new_tokens=max_tokens, temperature=temperature)
        self.settings = {"temperature": temperature, "max_tokens": max_tokens}
        # One generation at a time: a second one on the same CPU or GPU only slows both down.
        self._lock = threading.Lock()

    def complete(self, messages: list[dict]) -> Completion:
        from tunesmith.infer.generate import stream

        ids = prompt_ids(self.tokenizer, messages)
        with self._lock:
            self.usage.add(requests=1)
            text = "".join(stream(self.model, self.tokenizer, ids, self.sampling))
        produced = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
        self.usage.add(prompt_tokens=len(ids), completion_tokens=produced)
        return Completion(text, len(ids), produced)

    def close(self) -> None:
        pass


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])
    text = "\n\n".join(m["content"] for m in messages) + "\n\n"
    return list(tokenizer(text)["input_ids"])


def load_for_generation(path: str, dtype: str = "auto"):
    """(model, tokenizer, model id for the cache) for a model folder, embedded name, .gguf or run folder."""
    from tunesmith.config import ModelConfig, validate
    from tunesmith.model.load import load, resolve

    folder = Path(path).expanduser()
    if (folder / "config.yaml").is_file() and ((folder / "model").is_dir() or (folder / "adapter").is_dir()):
        return _load_run(folder, dtype)
    cfg = validate(ModelConfig, {"path": path, "dtype": dtype}, "backend.path")
    source = resolve(cfg)
    model, tokenizer = load(cfg)
    where = Path(source.location) / source.gguf_file if source.gguf_file else Path(source.location)
    return model, tokenizer, _model_id(where) if where.exists() else f"hub:{source.location}"


def _load_run(folder: Path, dtype: str):
    from tunesmith.config import ModelConfig, load as load_config, validate
    from tunesmith.model.load import load
    from tunesmith.run_config import RunConfig

    run = load_config(RunConfig, folder / "config.yaml")
    if (folder / "model").is_dir():
        cfg = validate(ModelConfig, {**run.model.model_dump(), "path": str(folder / "model"), "dtype": dtype},
                       f"{folder}/config.yaml")
        model, tokenizer = load(cfg)
        return model, tokenizer, _model_id(folder / "model")
    from peft import PeftModel

    cfg = validate(ModelConfig, {**run.model.model_dump(), "dtype": dtype}, f"{folder}/config.yaml")
    base, tokenizer = load(cfg)
    try:
        model = PeftModel.from_pretrained(base, str(folder / "adapter"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load the adapter in {folder / 'adapter'}: {e}",
                             "is this the run folder `tunesmith train` wrote?") from None
    return model, tokenizer, _model_id(folder / "adapter")


def _model_id(location: Path) -> str:
    """Path plus a fingerprint of the weight files: retraining into the same folder must not reuse
    answers the old weights gave."""
    location = location.resolve()
    files = [location] if location.is_file() else sorted(
        f for f in location.rglob("*") if f.suffix in (".safetensors", ".bin", ".gguf", ".pt"))
    stamp = hashlib.sha1("|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files).encode())
    return f"local:{location}#{stamp.hexdigest()[:12]}"
