"""The local backend: a model folder, an embedded model or a run folder, through tunesmith's own
generation (`tunesmith.infer`), so no server is needed.

The model is opened as chat and serve open it (`open_target`): a run folder with the template it was
trained with, a plain model with its own chat template. A plain model without one (a base model)
gets the alpaca template unless `backend.template` names another: a base model continues an
"### Instruction: ... ### Response:" prompt far better than bare text.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from tunesmith.llm.cache import Completion
from tunesmith.llm.usage import Usage
from tunesmith.errors import TunesmithError


class LocalBackend:
    def __init__(self, path: str, usage: Usage, temperature: float = 0.7, max_tokens: int = 512,
                 dtype: str = "auto", template: str | None = None):
        from tunesmith.infer.generate import Sampling
        from tunesmith.infer.target import open_target

        self.usage = usage
        self.target = open_target(path, template=template or _default_template(path),
                                  dtype=None if dtype == "auto" else dtype)
        self.tokenizer = self.target.tokenizer
        self.model_id = f"{_fingerprint(path)}:{self.target.template.name}"
        self.sampling = Sampling(max_new_tokens=max_tokens, temperature=temperature)
        self.settings = {"temperature": temperature, "max_tokens": max_tokens}
        # One generation at a time: a second one on the same CPU or GPU only slows both down.
        self._lock = threading.Lock()

    def complete(self, messages: list[dict]) -> Completion:
        from tunesmith.infer.generate import Generation, PromptTooLong, fit
        from tunesmith.infer.target import messages_to_example

        ids = self.target.prompt_ids(messages_to_example(messages))
        try:
            sampling = fit(len(ids), self.sampling, self.target.context)
        except PromptTooLong as e:
            raise TunesmithError(f"a synth prompt is {e.prompt_tokens} tokens, more than the local model's "
                                 f"context of {e.context}", "lower split.max_tokens") from None
        with self._lock:
            self.usage.add(requests=1)
            generation = Generation(self.target.model, self.tokenizer, ids, sampling, self.target.stop_ids)
            text = "".join(generation)
        done = generation.completion
        self.usage.add(prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens)
        return Completion(text, done.prompt_tokens, done.completion_tokens)

    def close(self) -> None:
        pass


def _default_template(path: str) -> str | None:
    """None (the run's own, or the tokenizer's chat template) unless a plain model has no chat template."""
    from tunesmith.runs.folder import is_run

    if is_run(path):
        return None
    from tunesmith.config import ModelConfig, validate
    from tunesmith.model.load import load_tokenizer

    tokenizer = load_tokenizer(validate(ModelConfig, {"path": path}, "backend.path"))
    return None if getattr(tokenizer, "chat_template", None) else "alpaca"


def _fingerprint(path: str) -> str:
    """Where the weights are plus a stamp of their files: retraining into the same folder must not
    reuse answers the old weights gave."""
    from tunesmith.config import ModelConfig, validate
    from tunesmith.runs.folder import is_run
    from tunesmith.model.load import resolve

    if is_run(path):
        location = Path(path).expanduser()
    else:
        source = resolve(validate(ModelConfig, {"path": path}, "backend.path"))
        if source.kind == "hub":
            return f"hub:{source.location}"
        location = Path(source.location) / source.gguf_file if source.gguf_file else Path(source.location)
    location = location.resolve()
    files = [location] if location.is_file() else sorted(
        f for f in location.rglob("*") if f.suffix in (".safetensors", ".bin", ".gguf", ".pt"))
    stamp = hashlib.sha1("|".join(f"{f.relative_to(location.parent)}:{f.stat().st_size}:{f.stat().st_mtime_ns}"
                                  for f in files).encode())
    return f"local:{location}#{stamp.hexdigest()[:12]}"
