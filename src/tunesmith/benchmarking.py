"""Run tunesmith's real training path on a random-init model of a given shape, for benchmarks.

The model is written to a temporary folder and trained with `tunesmith.train.loop.train`, exactly as
`tunesmith train` would: no benchmark-only code path. Throughput is the median of the per-step
non-pad tokens/s logged in metrics.jsonl, after the warm-up steps.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path


def tunesmith_train_steps(*, shape_config: dict, method: str, samples: list[list[int]], micro_batch: int, seq: int,
                          steps: int, warmup: int, gradient_checkpointing: bool, device: str, dtype,
                          packing: bool | None = None, extra: dict | None = None) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesmith.config import validate
    from tunesmith.runs.config import RunConfig
    from tunesmith.testing import tiny_tokenizer_dir
    from tunesmith.text.sample import IGNORE_INDEX, Sample
    from tunesmith.train.loop import train

    varlen = len({len(s) for s in samples}) > 1
    packing = varlen if packing is None else packing
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        torch.manual_seed(0)
        config = LlamaConfig(**shape_config, max_position_embeddings=max(seq, 4096))
        with torch.device(device):
            LlamaForCausalLM(config).to(dtype).save_pretrained(folder)
        for f in tiny_tokenizer_dir().iterdir():  # only the pad id is used: samples come pre-tokenised
            (folder / f.name).write_bytes(f.read_bytes())
        precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        cfg = {
            "model": {"path": str(folder), "dtype": precision},
            "method": {"name": method, "r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
            "template": {"max_seq_len": seq},
            "train": {"micro_batch_size": micro_batch, "grad_accum": 1, "max_steps": warmup + steps, "lr": 1e-4,
                      "warmup_ratio": 0.0, "scheduler": "constant", "precision": precision, "packing": packing,
                      "gradient_checkpointing": gradient_checkpointing, "group_by_length": False, **(extra or {})},
            "output_dir": str(Path(tmp) / "run"),
        }
        run_cfg = validate(RunConfig, cfg, "benchmark")
        rendered = [Sample(s, [IGNORE_INDEX] + s[1:]) for s in samples]
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = train(run_cfg, samples=rendered, progress=False, overwrite=True)
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
        timed = [r["tok_s"] for r in rows if "tok_s" in r][warmup:]
        params = sum(p.numel() for p in result.model.parameters())
        return {"tok_s": statistics.median(timed), "losses": result.losses[warmup:], "params": params,
                "trainable": result.trainable[0],
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")}
