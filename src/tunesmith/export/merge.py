"""Fold a run's adapter into its base weights: one plain transformers folder, no PEFT needed to load it.

    report = merge_run("runs/my-run", "merged/")     # LoRA, DoRA, AdaLoRA, IA3

What merges: adapters that are weight deltas (LoRA/DoRA/AdaLoRA add B·A, IA3 rescales rows or
columns). What cannot: prefix tuning, prompt tuning and p-tuning learn extra key/values or virtual
input tokens, which no change to the existing weights can reproduce; those runs are used as they are
(chat, serve, eval read the run folder).

Quantized bases (QLoRA) are refused unless `dequantize=True`: the adapter was trained against
4-bit weights, so merging it into either the 4-bit weights (rounding the delta away) or the
full-precision original (a base the adapter never saw) changes behaviour (PEERS.md #7). With
`dequantize=True` the base is loaded at full precision and the report says so.

Before anything is written, the merged model's logits are compared with base + adapter on a probe
text (max |Δ| relative to the largest logit: 1e-4 in fp32, 2e-2 in bf16/fp16); a merge that does not
reproduce them is an error, not a folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tunesmith import methods
from tunesmith.errors import TunesmithError

TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 2e-2, torch.float16: 2e-2}
PROBE = "Merging check: the quick brown fox jumps over the lazy dog. 你好，世界。"
REPORT_FILE = "tunesmith-merge.json"


@dataclass
class MergeReport:
    run: str
    output: str
    adapter: str                # LoRA, DoRA, AdaLoRA, IA3
    dtype: str
    max_abs_diff: float
    relative_diff: float
    tolerance: float
    dequantized: bool
    note: str = ""

    def describe(self) -> str:
        return (f"merged {self.adapter} into the base ({self.dtype}); logits vs base+adapter: max |diff| "
                f"{self.max_abs_diff:.2e} ({self.relative_diff:.2e} of the largest logit, tolerance "
                f"{self.tolerance:.0e})" + (f"; {self.note}" if self.note else ""))


def adapter_kind(adapter_dir: Path) -> str:
    """LoRA/DoRA/AdaLoRA/IA3 (the method's label), or a TunesmithError saying why this adapter cannot merge."""
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(str(adapter_dir))
    method = methods.for_adapter(config)
    if method is None:
        kind = str(getattr(config.peft_type, "value", config.peft_type))
        raise TunesmithError(f"cannot merge a {kind} adapter", f"merge supports {methods.mergeable_labels()}")
    if not method.merges:
        why, instead = method.merge_refusal()
        raise TunesmithError(f"cannot merge a {method.label} adapter: {why}", instead)
    return method.label


@dataclass
class Merged:
    model: object               # a plain transformers model, adapter folded in
    tokenizer: object
    config: object              # the run's RunConfig
    report: MergeReport


def merge_in_memory(run_dir: str | Path, *, dequantize: bool = False, device=None) -> Merged:
    """Load the run's base and adapter, fold the adapter in, and check the logits did not move."""
    from peft import PeftModel

    from tunesmith.model.load import load_model, load_tokenizer
    from tunesmith.runs.folder import RunFolder, read_config

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    cfg = read_config(run_dir)
    if (folder.model / "config.json").is_file():
        raise TunesmithError(f"{run_dir} is a {cfg.method.name} fine-tune: {folder.model} already is a complete "
                             "model, with nothing to merge",
                             f"load {folder.model} directly, or export it: tunesmith export {run_dir} --gguf OUT.gguf")
    if not (folder.adapter / "adapter_config.json").is_file():
        raise TunesmithError(f"{run_dir} has no adapter/ to merge", "the run did not finish; train it first")
    kind = adapter_kind(folder.adapter)
    quantized = cfg.model.load_in_4bit or cfg.model.load_in_8bit
    if quantized and not dequantize:
        bits = 4 if cfg.model.load_in_4bit else 8
        raise TunesmithError(
            f"{run_dir} was trained on a {bits}-bit quantized base: merging into quantized weights rounds the adapter "
            "away, and merging into the full-precision weights gives a model whose answers differ from what was "
            "trained (the adapter learned to correct the quantized weights)",
            "pass --dequantize to merge into the full-precision base anyway (the report records it), or keep "
            "using the run folder with its adapter")

    base_cfg = cfg.model.model_copy(update={"load_in_4bit": False, "load_in_8bit": False, "device_map": None})
    base = load_model(base_cfg, device=device)
    tokenizer = (_tokenizer_from(folder.tokenizer, cfg) if folder.tokenizer.is_dir()
                 else load_tokenizer(base_cfg))
    model = PeftModel.from_pretrained(base, str(folder.adapter))
    model.eval()
    dtype = next(base.parameters()).dtype
    probe = torch.tensor([tokenizer(PROBE).input_ids], device=base.device)
    with torch.inference_mode():
        expected = model(input_ids=probe).logits.float()
    merged = model.merge_and_unload()
    with torch.inference_mode():
        got = merged(input_ids=probe).logits.float()
    diff = (expected - got).abs().max().item()
    relative = diff / max(expected.abs().max().item(), 1e-6)
    tolerance = TOLERANCE.get(dtype, 2e-2)
    if relative > tolerance:
        raise TunesmithError(f"the merged model does not reproduce base + adapter: max logit difference {diff:.3g} "
                             f"({relative:.2e} of the largest logit, tolerance {tolerance:.0e}); nothing written",
                             "report this as a bug, with the run's config.yaml")
    note = ("merged into the full-precision base although the adapter was trained on a quantized one "
            "(--dequantize): answers may differ from the trained run" if quantized else "")
    report = MergeReport(str(run_dir), "", kind, str(dtype).replace("torch.", ""), diff, relative,
                         tolerance, bool(quantized), note)
    return Merged(merged, tokenizer, cfg, report)


def merge_run(run_dir: str | Path, out_dir: str | Path, *, dequantize: bool = False, force: bool = False,
              device=None) -> MergeReport:
    """Merge the run's adapter and save a plain transformers folder at `out_dir` (atomically)."""
    from tunesmith.export.chat_templates import jinja_for
    from tunesmith.io import atomic_dir

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise TunesmithError(f"{out_dir} exists and is not empty", "choose another folder or pass --force")
    done = merge_in_memory(run_dir, dequantize=dequantize, device=device)
    done.report.output = str(out_dir)
    tokenizer = done.tokenizer
    # The merged folder prompts like the run was trained (vLLM, llama.cpp and apply_chat_template read this).
    tokenizer.chat_template = jinja_for(done.config.template.name, tokenizer)
    with atomic_dir(out_dir) as staging:
        done.model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        sp_model = base_sentencepiece(done.config)
        if sp_model is not None and not (staging / "tokenizer.model").exists():
            # transformers 5 saves only tokenizer.json; llama.cpp's converter and SentencePiece-faithful
            # loading (text/spm.py) need the original model file (PEERS.md #8: "missing tokenizer.model").
            shutil.copy(sp_model, staging / "tokenizer.model")
        record = {**asdict(done.report), "template": done.config.template.model_dump()}
        (staging / REPORT_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return done.report


def _tokenizer_from(path: Path, run_cfg):
    from transformers import AutoTokenizer

    from tunesmith.runs.folder import faithful_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), use_fast=run_cfg.model.use_fast_tokenizer)
    return faithful_tokenizer(tokenizer, run_cfg)


def base_sentencepiece(run_cfg) -> Path | None:
    from tunesmith.model.load import resolve

    source = resolve(run_cfg.model)
    found = Path(source.location) / "tokenizer.model" if source.kind == "folder" else None
    return found if found is not None and found.is_file() else None
