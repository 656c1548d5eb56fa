"""What chat, generate, eval and serve talk to: a run folder or a plain model, with its template.

    target = open_target("runs/my-run")          # the trained model, its tokenizer, its template
    ids = target.prompt_ids(example)             # rendered exactly as in training (text.render)
    with target.base() as base_model: ...        # the model before tuning, for side-by-side eval

A run folder is rendered with the template it was trained with (config.yaml), never with whatever
the tokenizer ships: that mismatch is what costs peers half their accuracy (PEERS.md #3). A plain
model (a folder, a .gguf file, an embedded name) uses the `auto` template, its own chat template,
unless a template is named.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tunesmith.records.example import Example, Turn
from tunesmith.errors import DataError, ModelLoadError
from tunesmith.runs.config import RunConfig
from tunesmith.runs.folder import is_run


@dataclass
class Target:
    model: object
    tokenizer: object
    template: object                 # tunesmith.text.templates.Template
    name: str                        # what /v1/models and reports call it
    run_dir: Path | None = None
    run: RunConfig | None = None
    system: str | None = None        # the default system prompt (the run's template.system)

    @property
    def method(self) -> str | None:
        return self.run.method.name if self.run else None

    @property
    def virtual_tokens(self) -> int:
        """Positions prompt-learning adapters take before the prompt (0 for other methods)."""
        peft_config = getattr(self.model, "active_peft_config", None)
        return int(getattr(peft_config, "num_virtual_tokens", 0) or 0) if peft_config is not None and \
            getattr(peft_config, "is_prompt_learning", False) else 0

    @property
    def context(self) -> int:
        """Tokens a prompt and its answer may take together."""
        return int(self.model.config.max_position_embeddings) - self.virtual_tokens

    @property
    def stop_ids(self) -> list[int]:
        from tunesmith.text.render import stop_token_ids

        return stop_token_ids(self.template, self.tokenizer)

    def prompt_ids(self, example: Example) -> list[int]:
        """The prompt for `example` (its last assistant turn, if any, left out), with the default system."""
        from tunesmith.text.render import render_prompt

        if example.system is None and self.system is not None:
            example = Example(example.turns, self.system, example.meta)
        return render_prompt(example, self.template, self.tokenizer)

    @contextmanager
    def base(self) -> Iterator[object]:
        """The model without the fine-tuning: the adapter switched off, or the base loaded for a full run."""
        if hasattr(self.model, "disable_adapter"):
            # get_base_model() skips the prompt-learning generate fix; disable_adapter() bypasses LoRA layers.
            with self.model.disable_adapter():
                yield self.model.get_base_model()
            return
        if self.run is None:
            raise ModelLoadError(f"{self.name} is a plain model: there is no base to compare with",
                                 "give a run folder to compare the tuned model with its base")
        from tunesmith.model.load import load_model

        base = load_model(self.run.model, device=self.model.device)
        base.eval()
        try:
            yield base
        finally:
            del base


def messages_to_example(messages: list[dict], default_system: str | None = None) -> Example:
    """OpenAI-style messages -> Example; a leading system message becomes the system prompt."""
    system = default_system
    turns = []
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role == "system":
            if i != 0:
                raise DataError(f"messages[{i}]: a system message may only come first")
            system = content
            continue
        if role not in ("user", "assistant"):
            raise DataError(f"messages[{i}]: role '{role}' is not one of system, user, assistant")
        turns.append(Turn(role, content))
    return Example(turns, system)


def open_target(spec: str | Path, *, template: str | None = None, dtype: str | None = None,
                device=None) -> Target:
    """A run folder (has config.yaml) or a plain model (folder, .gguf, embedded name, hub id).

    A name that looks like a path but names nothing is refused before anything loads (no hub lookup),
    with the closest existing name; while loading, each phase is said on the `tunesmith.loading` log."""
    from tunesmith.model import catalog, loading, locate

    path = Path(spec).expanduser()
    if not path.exists() and str(spec) not in catalog.EMBEDDED and locate.looks_like_path(str(spec)):
        raise locate.missing_path(str(spec), f"no such run folder or model: {spec}",
                                  "give a run folder (the output_dir of `tunesmith train`), a model folder, a .gguf "
                                  f"file, an embedded model ({', '.join(catalog.EMBEDDED)}) or a hub id",
                                  tuple(catalog.EMBEDDED))
    with loading.ready(str(spec)):
        with loading.phase("torch and transformers", label="libraries"):  # seconds of their own on a cold start
            import transformers  # noqa: F401

            import tunesmith.model.load  # noqa: F401
        return _open(spec, path, template, dtype, device)


def _open(spec: str | Path, path: Path, template: str | None, dtype: str | None, device) -> Target:
    from tunesmith.text.templates import get_template

    if is_run(path):
        from tunesmith.runs.folder import load_trained

        model, tokenizer, run = load_trained(path, device=device)
        name = template or run.template.name
        return Target(model, tokenizer, get_template(name, tokenizer), path.resolve().name, path, run,
                      run.template.system)
    if path.is_dir() and not (path / "config.json").is_file() and not any(path.glob("*.gguf")):
        hint = ("it has adapter/ but no config.yaml: was config.yaml deleted?" if (path / "adapter").is_dir()
                else "give a run folder (with config.yaml), a model folder (with config.json) or a .gguf file")
        raise ModelLoadError(f"{path} is neither a tunesmith run folder nor a model folder", hint)
    from tunesmith.config import ModelConfig, validate
    from tunesmith.model.load import load

    settings = {"path": str(spec)}
    if dtype:
        settings["dtype"] = dtype
    model, tokenizer = load(validate(ModelConfig, settings, "command line"), device)
    model.eval()
    return Target(model, tokenizer, get_template(template or "auto", tokenizer), Path(str(spec)).name or str(spec))
