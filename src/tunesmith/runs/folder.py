"""The run folder: what a training run leaves behind, and how to load the trained model back.

    runs/my-run/
      config.yaml        the resolved RunConfig (chat, eval, serve, merge, export read it)
      manifest.json      data file hashes, package versions, seed, git revision, device
      metrics.jsonl      one JSON object per logged step (+ tb/ with TensorBoard events)
      checkpoints/step-N/  exact-resume state (see checkpoint.py)
      adapter/           adapter methods: loads with peft.PeftModel.from_pretrained(base, run/adapter)
      tokenizer/         the tokenizer the run trained with (adapter methods)
      model/             full / freeze: loads with AutoModelForCausalLM.from_pretrained(run/model)
      loss_curve.png     train and eval loss

    model, tokenizer, cfg = load_trained("runs/my-run")
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from tunesmith.errors import ConfigError
from tunesmith.io import atomic_write_text
from tunesmith.runs.config import RunConfig

PACKAGES = ("tunesmith", "torch", "transformers", "peft", "accelerate", "bitsandbytes", "tokenizers")


class RunFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    manifest = property(lambda self: self.root / "manifest.json")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tensorboard = property(lambda self: self.root / "tb")
    checkpoints = property(lambda self: self.root / "checkpoints")
    adapter = property(lambda self: self.root / "adapter")
    tokenizer = property(lambda self: self.root / "tokenizer")
    model = property(lambda self: self.root / "model")
    loss_curve = property(lambda self: self.root / "loss_curve.png")

    def create(self, cfg: RunConfig, data_files: list[str], extra: dict | None = None) -> None:
        from tunesmith.config import to_yaml

        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, to_yaml(cfg))
        atomic_write_text(self.manifest, json.dumps(manifest(cfg, data_files, extra), indent=2, ensure_ascii=False) + "\n")

    def latest_checkpoint(self) -> Path | None:
        steps = sorted(self.checkpoints.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        return steps[-1] if steps else None

    def finished(self) -> bool:
        return (self.adapter / "adapter_config.json").is_file() or (self.model / "config.json").is_file()


def is_run(path: str | Path) -> bool:
    """Whether `path` is a run folder (what every command that takes "a run or a model" asks first)."""
    return (Path(path) / "config.yaml").is_file()


def manifest(cfg: RunConfig, data_files: list[str], extra: dict | None = None) -> dict:
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "seed": cfg.seed,
        "method": cfg.method.name,
        "data": [{"path": str(p), "sha256": file_sha256(p), "bytes": Path(p).stat().st_size} for p in data_files],
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_revision(),
        **(extra or {}),
    }


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_revision() -> dict | None:
    """The commit of the code that ran (the tunesmith checkout, else the current directory), and if it was dirty."""
    where = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
        return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# Loading a trained run
# ---------------------------------------------------------------------------------------------

def read_config(run_dir: str | Path) -> RunConfig:
    from tunesmith import config

    folder = RunFolder(run_dir)
    if not Path(run_dir).exists():
        from tunesmith.model.locate import missing_path

        raise missing_path(str(run_dir), f"no such run folder: {run_dir}", "give the output_dir of a `tunesmith train` run")
    if not folder.config.is_file():
        raise ConfigError(f"{run_dir} is not a tunesmith run folder (no config.yaml)",
                          "give the output_dir of a `tunesmith train` run")
    from tunesmith import methods

    data = config.read_yaml(folder.config)
    if "method" in data:  # run folders written before each method had its own keys hold every method's
        data["method"] = methods.written_before_the_union(data["method"])
    return config.validate(RunConfig, data, str(folder.config))


def load_trained(run_dir: str | Path, device=None):
    """(model, tokenizer, RunConfig) of a finished run, exactly as trained, in eval mode.

    Adapter methods: the base model of `config.yaml` (same dtype and quantization) with the adapter
    from `adapter/`; prompt-learning adapters get a `generate()` that uses their prefix / virtual
    tokens. `full` / `freeze`: the whole model from `model/`.
    """
    from contextlib import nullcontext

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.model import load as model_load
    from tunesmith import methods
    from tunesmith.model import loading

    cfg = read_config(run_dir)
    folder = RunFolder(run_dir)
    device = torch.device(device) if device is not None else model_load.default_device()
    if folder.model.is_dir() and (folder.model / "config.json").is_file():
        dtype = model_load.pick_dtype(cfg.model, device)
        with loading.phase("the weights", folder.model, f"{str(dtype).removeprefix('torch.')} on {device.type}"):
            model = AutoModelForCausalLM.from_pretrained(folder.model, dtype=dtype,
                                                         attn_implementation=cfg.model.attn_implementation).to(device)
        with loading.phase("the tokenizer", folder.model):
            tokenizer = AutoTokenizer.from_pretrained(folder.model, use_fast=cfg.model.use_fast_tokenizer)
    elif (folder.adapter / "adapter_config.json").is_file():
        import sys

        # peft's first import is most of a run's start on a CPU (it imports bitsandbytes, whose kernels
        # go through torch.compile): a phase of its own, so the wait is named.
        with loading.phase("peft", detail="the adapter library; it imports bitsandbytes where installed") \
                if "peft" not in sys.modules else nullcontext():
            from peft import PeftModel

        base = model_load.load_model(cfg.model, device=device)
        with loading.phase("the adapter", folder.adapter, cfg.method.name):
            model = PeftModel.from_pretrained(base, folder.adapter)
        model = methods.get(cfg.method.name).for_inference(model)  # prompt learning: a generate() that works
        tok_dir = folder.tokenizer if folder.tokenizer.is_dir() else None
        if tok_dir:
            with loading.phase("the tokenizer", tok_dir):
                tokenizer = AutoTokenizer.from_pretrained(tok_dir, use_fast=cfg.model.use_fast_tokenizer)
        else:
            tokenizer = model_load.load_tokenizer(cfg.model)
    else:
        latest = folder.latest_checkpoint()
        raise ConfigError(f"{run_dir} has no trained adapter/ or model/ yet",
                          f"the run did not finish; resume it with `tunesmith train {folder.config} --resume`"
                          if latest else "run `tunesmith train` first")
    tokenizer = faithful_tokenizer(tokenizer, cfg)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    model.eval()
    return model, tokenizer, cfg


def faithful_tokenizer(tokenizer, run: RunConfig):
    """Repair a run's saved tokenizer against the base's tokenizer.model, as training's loader did.

    transformers 5 rebuilds a Llama tokenizer's normalizer when it loads a saved folder, so the
    SentencePiece repair applied at training time (text/spm.py) does not survive run/tokenizer/;
    without this, text that starts with spaces would get other ids at inference than in training.
    """
    from tunesmith.model.load import resolve
    from tunesmith.text.spm import ensure_faithful

    source = resolve(run.model)
    model_file = Path(source.location) / "tokenizer.model" if source.kind == "folder" else None
    return ensure_faithful(tokenizer, model_file if model_file and model_file.is_file() else None)

