"""`tunesmith train run.yaml [key=value ...]`: fine-tune as the config says, into a run folder."""

from __future__ import annotations

import argparse
import os

DESCRIPTION = """\
Fine-tune a Llama-family model with any method of the chapter: full, freeze, lora, qlora, dora,
prefix, prompt, ptuning, ia3, adalora. The run folder (output_dir) receives config.yaml (resolved),
manifest.json, metrics.jsonl + TensorBoard events, checkpoints/step-N, loss_curve.png, and the
result: adapter/ (+ tokenizer/) for adapter methods, model/ for full and freeze.
"""

EPILOG = """\
examples:
  tunesmith train configs/smollm2-lora.yaml
  tunesmith train configs/smollm2-lora.yaml train.lr=1e-4 method.r=16 output_dir=runs/r16
  tunesmith train run.yaml --print-config          # every key, its value and what it means
  tunesmith train run.yaml --resume                # continue from the latest checkpoint
  torchrun --nproc-per-node 2 -m tunesmith train run.yaml train.distributed=fsdp

the loss:
  mean cross-entropy per trained token (the answers and each end-of-turn token), normalised over
  the whole gradient-accumulation window, so grad_accum x micro_batch_size is the real batch.

stopping and resuming:
  Ctrl-C finishes the current step, saves checkpoints/step-N and exits; --resume continues it and
  ends with exactly the weights an uninterrupted run would have (same seed, same machine).
  A folder that already holds a run is never silently restarted: --resume or --overwrite.

before spending hours: `tunesmith estimate run.yaml --memory 24GiB` predicts peak memory; train itself
compares that estimate with the free memory before loading the model and warns (--memory-check).
"""


def register(sub) -> None:
    p = sub.add_parser("train", help="fine-tune a model (full, freeze, LoRA, QLoRA, DoRA, prefix, prompt, "
                                     "p-tuning, IA3, AdaLoRA)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="run config (YAML); see configs/ for one per model and method")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.lr=2e-4")
    p.add_argument("--print-config", action="store_true", help="print the resolved config with comments and exit")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                   help="continue the run in output_dir from its latest checkpoint, or from CHECKPOINT")
    p.add_argument("--overwrite", action="store_true", help="start over in an output_dir that already holds a run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (metrics still go to metrics.jsonl)")
    p.add_argument("--memory-check", choices=("warn", "error", "off"), default="warn",
                   help="before loading the model, compare the estimated peak memory with the memory free on the "
                        "device: warn (default; with settings that would fit), error (stop), off")
    p.set_defaults(func=run)


def load_config(args):
    from tunesmith import config
    from tunesmith.runs.config import RunConfig

    path, overrides = config.split_positionals([args.config, *args.overrides] if args.config else args.overrides)
    return config.load(RunConfig, path, overrides)


def run(args) -> int:
    from tunesmith import config
    from tunesmith.train import memory_check
    from tunesmith.train.loop import train

    cfg = load_config(args)
    if args.print_config:
        print(config.to_yaml(cfg), end="")
        return 0
    memory_check.check(cfg, args.memory_check)  # before anything loads: a run that cannot fit says so first
    result = train(cfg, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if result.interrupted:
        return 130
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, process 0 reports
    if result.losses:
        eval_part = f", eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
        print(f"done: {len(result.losses)} steps, final loss {result.losses[-1]:.4f}{eval_part}, "
              f"{result.tokens_per_s:,.0f} tokens/s")
    print(f"run folder: {result.run_dir}  (try: tunesmith chat {result.run_dir})")
    return 0
