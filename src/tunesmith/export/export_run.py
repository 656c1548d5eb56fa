"""`tunesmith export`: a run folder (or a plain model folder) to one GGUF file, checked by loading it back.

A run's adapter is merged in memory first (LoRA/DoRA/AdaLoRA/IA3; see merge.py for what cannot
merge), the chat template written is the one the run was trained with, and the pre-tokenizer name
of a base that itself came from a GGUF file (the embedded SmolLM2) is carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tunesmith.errors import TunesmithError
from tunesmith.export import gguf


@dataclass
class Exported:
    written: gguf.Written
    verification: gguf.Verification | None
    merge_note: str = ""


def export_gguf(spec: str | Path, out: str | Path, *, type: str = "f16", dequantize: bool = False,
                verify: bool = True, force: bool = False) -> Exported:
    out = Path(out)
    if out.suffix != ".gguf":
        raise TunesmithError(f"{out}: the output file should end in .gguf", "for example --gguf my-model.q8_0.gguf")
    if out.exists() and not force:
        raise TunesmithError(f"{out} exists", "choose another name or pass --force")
    model, tokenizer, template, pre, sp_model, note = _load(Path(spec), dequantize)
    written = gguf.write(model, tokenizer, out, type=type, chat_template=template, pre_hint=pre,
                         name=Path(spec).resolve().name, sp_model=sp_model)
    check = None
    if verify:
        check = gguf.verify(out, model, tokenizer, type)
        if not check.ok:
            out.unlink(missing_ok=True)
            raise TunesmithError(f"the GGUF file did not load back faithfully: {check.describe()}; file removed",
                                 "report this as a bug with the model's config.json; --no-verify keeps the file")
    return Exported(written, check, note)


def _load(spec: Path, dequantize: bool):
    """(model, tokenizer, chat template, pre-tokenizer hint, base tokenizer.model, note) of a run folder
    or a model folder."""
    from transformers import AutoModelForCausalLM

    from tunesmith.config import ModelConfig
    from tunesmith.export.chat_templates import jinja_for
    from tunesmith.model.load import load_tokenizer
    from tunesmith.runs.folder import RunFolder, read_config

    if not spec.exists():
        from tunesmith.model.locate import missing_path

        raise missing_path(str(spec), f"no such run folder or model folder: {spec}",
                           "give a run folder (the output_dir of `tunesmith train`) or a transformers model folder")
    folder = RunFolder(spec)
    if folder.config.is_file():
        cfg = read_config(spec)
        if (folder.model / "config.json").is_file():
            from transformers import AutoTokenizer

            from tunesmith.runs.folder import faithful_tokenizer

            model = AutoModelForCausalLM.from_pretrained(folder.model, dtype=torch.float32)
            tokenizer = faithful_tokenizer(AutoTokenizer.from_pretrained(folder.model), cfg)
            note = ""
        else:
            from tunesmith.export.merge import merge_in_memory

            done = merge_in_memory(spec, dequantize=dequantize, device=torch.device("cpu"))
            model, tokenizer, note = done.model, done.tokenizer, done.report.describe()
        from tunesmith.export.merge import base_sentencepiece

        return (model.eval(), tokenizer, jinja_for(cfg.template.name, tokenizer), _source_pre(cfg.model),
                base_sentencepiece(cfg), note)
    if not (spec / "config.json").is_file():
        raise TunesmithError(f"{spec} is neither a tunesmith run folder (config.yaml) nor a model folder (config.json)")
    model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(ModelConfig(path=str(spec)))
    return model, tokenizer, getattr(tokenizer, "chat_template", None), _folder_pre(spec), None, ""


def _source_pre(model_cfg) -> str | None:
    """The pre-tokenizer name of the GGUF file the base model came from, if it came from one."""
    from tunesmith.export.gguf_vocab import source_pre
    from tunesmith.model import catalog

    path = Path(model_cfg.path).expanduser()
    if model_cfg.path in catalog.EMBEDDED:
        return source_pre(catalog.gguf_path(model_cfg.path))
    if path.is_file() and path.suffix == ".gguf":
        return source_pre(path)
    if path.is_dir() and model_cfg.gguf_file:
        return source_pre(path / model_cfg.gguf_file)
    return _folder_pre(path) if path.is_dir() else None


def _folder_pre(folder: Path) -> str | None:
    """A folder pulled from a GGUF file (the embedded models) remembers its source in its marker."""
    import json

    from tunesmith.export.gguf_vocab import source_pre
    from tunesmith.model.catalog import MARKER

    marker = folder / MARKER
    if marker.is_file():
        source = Path(json.loads(marker.read_text()).get("source", ""))
        if source.is_file():
            return source_pre(source)
    return None
