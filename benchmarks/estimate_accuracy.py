"""`tunesmith estimate` against measured peaks: real training runs on the CPU, estimate beside measurement.

    python benchmarks/estimate_accuracy.py [--only tiny|smollm2] [--threads 2] [--steps 2]

Each case is a run of `tunesmith.train.loop.train` (the code `tunesmith train` runs) in its own
process: the tiny Llama of the tests (hidden 64, 2 layers) with Llama 2's 32k vocabulary, so that
the loss terms dominate, and the embedded SmolLM2-135M-Instruct (`tunesmith models pull smollm2`)
with the shipped `configs/smollm2-*.yaml`, with and without `train.fused_loss`, for lora, full,
adalora and one prompt-learning method (prompt: the fused path falls back to the full logits).

What is measured: the process's peak resident set (VmHWM in /proc/self/status) during `train()`,
minus its resident set just before (the peak mark is reset there by writing 5 to
/proc/self/clear_refs). torch's CPU allocator keeps no statistics (`torch.cuda.max_memory_allocated`
has no CPU counterpart), and the RSS is what a machine must hold: tensors plus allocator slack, the
model load, the tokenizer and the data. Every lazily imported module is loaded by a warm-up run
before the baseline, so imports do not count.

Samples are random tokens exactly max_seq_len long, every position trained: micro_batch_size x
max_seq_len tokens per micro-batch, the worst case the estimate assumes. grad_accum is 1 and the run
takes `--steps` optimizer steps (2: the AdamW states exist from the second step on); neither changes
the peak of a micro-batch.

Measured here (2 shared cores, 2026-12-03; estimate in MiB from the committed constants / measured MiB):
    tiny lora fused 472/534 (0.88)   tiny lora plain 1595/1660 (0.96)   tiny prompt (plain) 1593/1589 (1.00)
    tiny full fused 495/502 (0.99)   tiny full plain 1611/1635 (0.99)
    smollm2 lora fused 6978/7741 (0.90)   smollm2 lora plain 7545/8222 (0.92)
    smollm2 adalora fused 6959/7884 (0.88, --steps 1)   smollm2 prompt (plain) 5220/4190 (1.25, --steps 1)
    smollm2 full fused 6211/4962 (1.25: the estimate adds every gradient to every activation; in backward
    the gradients grow while the activations are freed)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY_SHAPE = {"vocab_size": 32000}  # the tests' tiny Llama otherwise (tunesmith.testing.tiny_llama_config)
TINY_TRAIN = {"train.micro_batch_size": 4, "template.max_seq_len": 1024}

# name -> (model, base config, overrides)
CASES = {
    "tiny lora fused": ("tiny", "smollm2-lora", {**TINY_TRAIN}),
    "tiny lora plain": ("tiny", "smollm2-lora", {**TINY_TRAIN, "train.fused_loss": False}),
    "tiny full fused": ("tiny", "smollm2-full", {**TINY_TRAIN}),
    "tiny full plain": ("tiny", "smollm2-full", {**TINY_TRAIN, "train.fused_loss": False}),
    "tiny prompt": ("tiny", "smollm2-prompt", {**TINY_TRAIN}),
    "smollm2 lora fused": ("smollm2", "smollm2-lora", {}),
    "smollm2 lora plain": ("smollm2", "smollm2-lora", {"train.fused_loss": False}),
    "smollm2 full fused": ("smollm2", "smollm2-full", {}),
    "smollm2 full plain": ("smollm2", "smollm2-full", {"train.fused_loss": False}),
    "smollm2 adalora fused": ("smollm2", "smollm2-adalora", {}),
    "smollm2 prompt": ("smollm2", "smollm2-prompt", {}),
}


def proc_status(key: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status (Linux only)")


def run_config(model_dir: str, base: str, overrides: dict, out: str, steps: int):
    from tunesmith import config
    from tunesmith.runs.config import RunConfig

    settings = {"model.path": model_dir, "model.dtype": "fp32", "data.val_split": 0, "train.grad_accum": 1,
                "train.max_steps": steps, "train.eval_every": 0, "train.save_every": 0, "train.warmup_ratio": 0,
                "train.group_by_length": False, "output_dir": out, **overrides}
    return config.load(RunConfig, ROOT / "configs" / f"{base}.yaml",
                       [f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in settings.items()])


def samples_for(cfg, vocab: int, n: int):
    import random

    from tunesmith.text.sample import Sample

    rng = random.Random(0)
    length = cfg.template.max_seq_len
    out = []
    for _ in range(n):
        ids = [1] + [rng.randrange(3, vocab) for _ in range(length - 1)]
        out.append(Sample(ids, [-100] + ids[1:]))  # every position after the first is trained
    return out


def one(case: str, args) -> dict:
    import torch

    from tunesmith.testing import tiny_llama
    from tunesmith.train import estimate as est
    from tunesmith.train.loop import train

    torch.set_num_threads(args.threads)
    model, base, overrides = CASES[case]
    tmp = Path(tempfile.mkdtemp(prefix="estimate-accuracy-"))
    if model == "tiny":
        model_dir = str(tiny_llama(tmp / "tiny", **TINY_SHAPE))
    else:
        from tunesmith.model import catalog

        model_dir = str(catalog.ensure("smollm2"))
    # warm-up: one step of the same method on a few tokens imports every module train() loads lazily
    warm = run_config(model_dir, base, {**overrides, "train.micro_batch_size": 1, "template.max_seq_len": 32},
                      str(tmp / "warm"), 1)
    vocab = est.model_config(warm).vocab_size
    train(warm, samples=samples_for(warm, vocab, 2), overwrite=True, progress=False)
    cfg = run_config(model_dir, base, overrides, str(tmp / "run"), args.steps)
    e = est.estimate(cfg, "cpu")
    samples = samples_for(cfg, vocab, cfg.train.micro_batch_size * args.steps)
    import gc

    gc.collect()
    before = proc_status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS from here on
    result = train(cfg, samples=samples, overwrite=True, progress=False)
    peak = proc_status("VmHWM")
    return {"estimate": e.peak, "parts": e.parts, "fused": e.fused_loss, "measured": peak - before,
            "tokens": e.tokens, "steps": len(result.losses), "loss": result.losses[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("tiny", "smollm2"), help="run only the cases of this model")
    p.add_argument("--case", action="append", choices=list(CASES), help="run only this case (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--one", choices=list(CASES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args.one, args)), flush=True)
        return
    names = args.case or [n for n in CASES if args.only in (None, CASES[n][0])]
    mib = 1024 ** 2
    print(f"{'case':<24}{'tokens':>7}{'loss path':>10}{'estimate':>11}{'measured':>11}{'est/meas':>9}")
    results = {}
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--threads", str(args.threads), "--steps", str(args.steps)]
        env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        r = results[name] = json.loads(line[-1][7:])
        print(f"{name:<24}{r['tokens']:>7}{'fused' if r['fused'] else 'plain':>10}{r['estimate'] / mib:>8.0f} MiB"
              f"{r['measured'] / mib:>8.0f} MiB{r['estimate'] / r['measured']:>9.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
