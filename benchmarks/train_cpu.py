"""tunesmith vs HF Trainer + PEFT: the same SmolLM2-135M LoRA run on the CPU, same data, same steps.

    python benchmarks/train_cpu.py [--steps 6] [--samples 64] [--threads 2]

Each run is its own process (peak memory = that process's peak RSS). Data: variable-length samples
(16-128 tokens, the first third of each masked as prompt), micro-batch 4, LoRA r16 all-linear.
Reported: real (non-pad) tokens per second of the training steps (model loading excluded) and
peak RSS, for
  hf        transformers Trainer + PEFT, DataCollatorForSeq2Seq (pads each batch to its longest)
  padded    tunesmith, dynamic padding + length grouping (the default)
  packed    tunesmith, packing into rows of max_seq_len with a block-diagonal mask
  plain-ce  tunesmith padded, with train.fused_loss=false (the full logits tensor, as HF computes it)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time

MAX_SEQ = {"uniform": 256, "sft": 512}  # packed row length = max_seq_len
TUNESMITH = {  # variant -> train settings
    "padded": {"micro_batch_size": 4, "packing": False},
    "packed": {"micro_batch_size": 1, "packing": True},
    "plain-ce": {"micro_batch_size": 4, "packing": False, "fused_loss": False},
}


def make_samples(n: int, seed: int = 0, lengths: str = "uniform"):
    """`uniform`: 16-128 tokens. `sft`: log-normal like real instruction data (median ~100, a long
    tail up to MAX_SEQ), where padding each random batch to its longest wastes most of the compute."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(16, 128) if lengths == "uniform" else \
            max(16, min(MAX_SEQ["sft"], int(rng.lognormvariate(math.log(100), 0.8))))
        ids = [1] + [rng.randint(3, 49000) for _ in range(length - 2)] + [2]
        prompt = length // 3
        out.append((ids, [-100] * prompt + ids[prompt:]))
    return out


def run_tunesmith(args, variant: str) -> dict:
    from tunesmith.runs.config import RunConfig
    from tunesmith.text.batching import Sample
    from tunesmith.train.loop import train

    samples = [Sample(i, l) for i, l in make_samples(args.samples, lengths=args.lengths)]
    cfg = RunConfig.model_validate({
        "model": {"path": "smollm2", "dtype": "fp32"}, "template": {"max_seq_len": MAX_SEQ[args.lengths]},
        "method": {"name": "lora", "r": 16, "alpha": 32, "dropout": 0.0},
        "train": {"max_steps": args.steps, "lr": 2e-4, "warmup_ratio": 0, **TUNESMITH[variant]},
        "output_dir": f"{args.out}/tunesmith-{variant}"})
    result = train(cfg, samples=samples, overwrite=True, progress=False)
    return {"tokens_per_s": result.tokens_per_s, "loss": result.losses[-1]}


def run_hf(args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainerCallback, TrainingArguments)

    from tunesmith.model import catalog

    folder = catalog.ensure("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    data = [{"input_ids": i, "attention_mask": [1] * len(i), "labels": l}
            for i, l in make_samples(args.samples, lengths=args.lengths)]
    timing = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            timing["start"] = time.perf_counter()

        def on_train_end(self, *a, **k):
            timing["end"] = time.perf_counter()

    targs = TrainingArguments(output_dir=f"{args.out}/hf", per_device_train_batch_size=4, max_steps=args.steps,
                              learning_rate=2e-4, warmup_steps=0, logging_steps=1, save_strategy="no",
                              report_to=[], use_cpu=True, dataloader_num_workers=0, seed=42,
                              disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=data, callbacks=[Clock()],
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest"))
    out = trainer.train()
    seen = args.steps * 4  # the sampler is random: count the real tokens of the batches it drew
    real = sum(len(d["input_ids"]) for d in data) * seen / len(data)
    return {"tokens_per_s": real / (timing["end"] - timing["start"]), "loss": out.training_loss}


def one(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    result = run_hf(args) if args.one == "hf" else run_tunesmith(args, args.one)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lengths", choices=("uniform", "sft"), default="uniform",
                   help="sample lengths: uniform 16-128, or sft (log-normal, median ~100, tail to 512)")
    p.add_argument("--out", default="runs/bench-train-cpu")
    p.add_argument("--one", choices=("hf", *TUNESMITH), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return one(args)
    results = {}
    for name in ("hf", *TUNESMITH):
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--samples", str(args.samples),
               "--threads", str(args.threads), "--out", args.out, "--lengths", args.lengths]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        results[name] = json.loads(line[-1][7:])
        print(f"{name:<7} {results[name]['tokens_per_s']:8.1f} real tok/s  peak RSS "
              f"{results[name]['peak_rss_mib']:7.0f} MiB  final loss {results[name]['loss']:.3f}", flush=True)
    hf = results["hf"]
    for name in TUNESMITH:
        r = results[name]
        print(f"{name} vs hf: {r['tokens_per_s'] / hf['tokens_per_s']:.2f}x tokens/s, "
              f"{r['peak_rss_mib'] / hf['peak_rss_mib']:.2f}x peak memory")


if __name__ == "__main__":
    main()
