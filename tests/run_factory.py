"""Run folders for the tests of chat/generate/eval/serve/merge/export, without running training.

`make_run(root, method)` writes what `tunesmith train` leaves (config.yaml, manifest.json, adapter/ +
tokenizer/ or model/) for the tiny Llama, with the adapter built by the method registry training
uses and its weights pushed away from their identity initialisation, so that the "tuned" model
really differs from its base (a fresh LoRA has B = 0 and changes nothing).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.runs.config import RunConfig


def method_block(name: str, **settings) -> dict:
    """`{"name": name, ...}` with those of `settings` that method `name` takes: a method block has only its
    own keys, so tests that run many methods give the common settings once."""
    from tunesmith import methods

    return {"name": name, **{k: v for k, v in settings.items() if k in methods.get(name).options.model_fields}}

# A chat template for the tiny tokenizer (it ships none), in the llama2-zh shape the tests use.
TEMPLATE = "llama2-zh"


def make_run(root: Path, method: str = "lora", base_dir: Path | None = None, seed: int = 1, scale: float | None = None,
             template: str = TEMPLATE, **method_settings) -> Path:
    from transformers import AutoModelForCausalLM

    from tunesmith import methods
    from tunesmith.model.load import load_tokenizer
    from tunesmith.testing import tiny_llama
    from tunesmith.runs.folder import RunFolder

    root = Path(root)
    base_dir = Path(base_dir) if base_dir is not None else tiny_llama(root.parent / f"{root.name}-base")
    cfg = RunConfig.model_validate({
        "model": {"path": str(base_dir), "dtype": "fp32"},
        "template": {"name": template, "max_seq_len": 256},
        "method": {**method_block(method, num_virtual_tokens=6, r=4), **method_settings},
        "output_dir": str(root),
    })
    folder = RunFolder(root)
    folder.create(cfg, [])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    tuned = methods.apply(model, methods.options(**cfg.method.model_dump()))
    whole = methods.get(method).saves == "model"
    scale = scale if scale is not None else (0.02 if whole else 0.5)  # whole weights start at std 0.02
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if p.requires_grad:
                if "ia3" in name:
                    p.copy_(1 + scale * torch.randn_like(p))   # IA3 vectors scale activations around 1
                else:
                    p.add_(scale * torch.randn_like(p))
    tokenizer = load_tokenizer(cfg.model)  # as training loads (and saves) it: SentencePiece-faithful
    if whole:
        tuned.save_pretrained(folder.model)
        tokenizer.save_pretrained(folder.model)
    else:
        tuned.save_pretrained(folder.adapter)
        tokenizer.save_pretrained(folder.tokenizer)
    return root


def greedy_by_forward(model, ids: list[int], steps: int) -> list[int]:
    """Greedy decoding with full forward passes and no cache: what generate() must agree with."""
    cur = torch.tensor([ids])
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=cur).logits[0, -1]
            nxt = int(logits.argmax())
            out.append(nxt)
            cur = torch.cat([cur, torch.tensor([[nxt]])], dim=1)
    return out
