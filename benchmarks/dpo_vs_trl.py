"""tunesmith DPO vs TRL's DPOTrainer: the same model, the same token ids, the same steps, on the CPU.

    python benchmarks/dpo_vs_trl.py [--model small|smollm2] [--steps 4] [--warmup 1] [--pairs 16] [--micro-batch 2]

--model small (the default): a random-init Llama of SmolLM2's vocabulary and tokenizer with 4 layers of width
256 (16M parameters), so that a shared 2-core CPU runs the four runs in minutes; smollm2: SmolLM2-135M itself.

Four runs, each in its own process (peak memory = that process's peak RSS, model loading included):
  tunesmith-lora  train.objective=dpo, LoRA r16 all-linear: the reference is the model with adapters off
  trl-lora        DPOTrainer with the same LoRA (peft_config): its reference is also adapters off
  tunesmith-full  full fine-tuning: the reference log-probs are computed once before step 1 and cached
  trl-full        DPOTrainer full: a second copy of the model is the reference
Pairs are rendered once by tunesmith (text.render_pair, SmolLM2's chat template) and both sides train on
exactly those ids: TRL gets them as prompt_ids/chosen_ids/rejected_ids, which its collator takes as they are.
Reported: the median step time and tokens/s after `--warmup` steps (forward + backward + optimizer step;
TRL's from its step callbacks and num_tokens log, tunesmith's from metrics.jsonl; the two samplers draw the
pairs in different orders, so tokens/s is the like-for-like number), the whole train() wall time (full:
tunesmith's includes the one-pass reference precompute, TRL's loads no second model here: it is built
in DPOTrainer's constructor, outside train()), peak RSS, and the ratios. Medians on a shared CPU are noisy:
run it on an idle machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

RUNS = ("tunesmith-lora", "trl-lora", "tunesmith-full", "trl-full")
WORDS = ("the river stone cloud music green seven light paper north answer question model data train "
         "value small large quick slow bright dark open close early late first last near far").split()


def model_folder(args) -> str:
    """SmolLM2-135M, or (small) a random-init Llama with its vocabulary and tokenizer, written once under --out."""
    from tunesmith.model import catalog

    smollm2 = catalog.ensure("smollm2")
    if args.model == "smollm2":
        return str(smollm2)
    import shutil
    from pathlib import Path

    import torch
    from transformers import AutoConfig, LlamaForCausalLM

    folder = Path(args.out) / "small-model"
    if not (folder / "config.json").is_file():
        config = AutoConfig.from_pretrained(smollm2)
        config.update({"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4, "num_attention_heads": 4,
                       "num_key_value_heads": 4, "head_dim": 64})
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(folder)
        for f in Path(smollm2).iterdir():  # the tokenizer and its chat template, not the weights or their config
            if f.is_file() and not f.name.endswith(".safetensors") and f.name not in ("config.json",
                                                                                       "generation_config.json"):
                shutil.copy(f, folder / f.name)
    return str(folder)


def make_pairs(args, seed: int = 0):
    """Prompts of 8-32 words, answers of 4-24 words: lengths vary, as in a real preference set."""
    from transformers import AutoTokenizer

    from tunesmith.records.example import Example, Turn
    from tunesmith.text.render_pair import render_pair
    from tunesmith.text.templates import get_template

    folder, n = model_folder(args), args.pairs
    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = get_template("auto", tokenizer)
    rng = random.Random(seed)
    text = lambda lo, hi: " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))  # noqa: E731
    pairs = []
    for _ in range(n):
        ex = Example([Turn("user", text(8, 32)), Turn("assistant", text(4, 24))], rejected=Turn("assistant", text(4, 24)))
        pairs.append(render_pair(ex, template, tokenizer, max_seq_len=1024))
    return folder, tokenizer, pairs


def run_tunesmith(args, method: str) -> dict:
    from tunesmith.runs.config import RunConfig
    from tunesmith.train.loop import train

    folder, _, pairs = make_pairs(args)
    lora = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"} if method == "lora" else {}
    cfg = RunConfig.model_validate({
        "model": {"path": str(folder), "dtype": "fp32"}, "template": {"max_seq_len": 1024},
        "method": {"name": method, **lora},
        "train": {"objective": "dpo", "beta": 0.1, "max_steps": args.warmup + args.steps,
                  "micro_batch_size": args.micro_batch,
                  "lr": 1e-5, "warmup_ratio": 0, "scheduler": "constant", "precision": "fp32",
                  "group_by_length": False},
        "output_dir": f"{args.out}/tunesmith-{method}"})
    start = time.perf_counter()
    train(cfg, samples=pairs, overwrite=True, progress=False)
    wall = time.perf_counter() - start
    lines = [json.loads(x) for x in open(f"{args.out}/tunesmith-{method}/metrics.jsonl")]
    timed = lines[args.warmup:]
    return {"step_s": statistics.median(m["tokens"] / m["tok_s"] for m in timed),
            "tok_s": statistics.median(m["tok_s"] for m in timed), "wall_s": wall, "loss": lines[-1]["loss"]}


def run_trl(args, method: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    folder, tokenizer, pairs = make_pairs(args)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    peft_config = None
    if method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    rows = [{"prompt_ids": p.prompt_ids, "chosen_ids": p.chosen.input_ids[p.prompt_len:],
             "rejected_ids": p.rejected.input_ids[p.prompt_len:]} for p in pairs]
    times, clock = [], {}

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            clock["t"] = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - clock["t"])

    targs = DPOConfig(output_dir=f"{args.out}/trl-{method}", per_device_train_batch_size=args.micro_batch, beta=0.1,
                      max_steps=args.warmup + args.steps, learning_rate=1e-5, lr_scheduler_type="constant",
                      warmup_steps=0, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False,
                      max_length=None, dataloader_num_workers=0, seed=42, disable_tqdm=True)
    trainer = DPOTrainer(model=model, args=targs, processing_class=tokenizer, peft_config=peft_config,
                         train_dataset=Dataset.from_list([{"prompt": "a", "chosen": " b", "rejected": " c"}]),
                         callbacks=[Clock()])
    trainer.train_dataset = Dataset.from_list(rows)  # exactly tunesmith's ids (the collator takes them as they are)
    start = time.perf_counter()
    out = trainer.train()
    wall = time.perf_counter() - start
    # Tokens through the model per step (both sides, prompt included, no padding), as tunesmith counts them.
    seen = [0] + [int(e["num_tokens"]) for e in trainer.state.log_history if "num_tokens" in e and "loss" in e]
    tok_s = [(b - a) / t for a, b, t in zip(seen, seen[1:], times)][args.warmup:]
    return {"step_s": statistics.median(times[args.warmup:]), "tok_s": statistics.median(tok_s), "wall_s": wall,
            "loss": out.training_loss}


def one(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    side, method = args.one.split("-")
    result = run_trl(args, method) if side == "trl" else run_tunesmith(args, method)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("small", "smollm2"), default="small")
    p.add_argument("--steps", type=int, default=4, help="timed steps (after the warm-up)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--micro-batch", type=int, default=2, help="pairs per step (2x sequences per forward)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/bench-dpo-vs-trl")
    p.add_argument("--one", choices=RUNS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return one(args)
    model_folder(args)  # the small model is written before the runs, outside their measurements
    results = {}
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "TRL_EXPERIMENTAL_SILENCE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    for name in RUNS:
        cmd = [sys.executable, __file__, "--one", name, "--model", args.model, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--pairs", str(args.pairs), "--micro-batch", str(args.micro_batch),
               "--threads", str(args.threads), "--out", args.out]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        results[name] = r = json.loads(line[-1][7:])
        print(f"{name:<15} step {r['step_s']:6.2f} s, {r['tok_s']:7.1f} tok/s (medians)  train() {r['wall_s']:6.1f} s  "
              f"peak RSS "
              f"{r['peak_rss_mib']:7.0f} MiB  loss {r['loss']:.4f}", flush=True)
    for method in ("lora", "full"):
        ours, trl = results[f"tunesmith-{method}"], results[f"trl-{method}"]
        print(f"{method}: tunesmith / TRL = {ours['step_s'] / trl['step_s']:.2f}x step time, "
              f"{ours['tok_s'] / trl['tok_s']:.2f}x tokens/s, "
              f"{ours['wall_s'] / trl['wall_s']:.2f}x train() time, {ours['peak_rss_mib'] / trl['peak_rss_mib']:.2f}x "
              "peak memory")


if __name__ == "__main__":
    main()
