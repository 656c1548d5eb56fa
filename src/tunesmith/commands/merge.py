"""`tunesmith merge RUN OUT`: fold a LoRA/DoRA/AdaLoRA/IA3 adapter into the base weights."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith merge runs/my-run merged/my-model
  tunesmith merge runs/my-qlora-run merged/my-model --dequantize

The output folder loads with plain transformers (AutoModelForCausalLM.from_pretrained), carries the
tokenizer and the run's chat template, and tunesmith-merge.json records the check made before
writing: the merged model's logits against base + adapter (tolerance: 1e-4 of the largest logit in
fp32, 2e-2 in bf16/fp16).
Prefix tuning, prompt tuning and p-tuning cannot merge (they add virtual tokens, not weight
changes): use their run folder with chat, generate, serve and eval. Runs trained on a 4-bit or
8-bit base are refused unless --dequantize, because the merged model then differs from what was
trained.
"""


def register(sub) -> None:
    p = sub.add_parser("merge", help="merge a run's adapter into the base weights (a plain transformers folder)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Merge a LoRA, DoRA, AdaLoRA or IA3 adapter into its base model.")
    p.add_argument("run", help="a run folder with adapter/")
    p.add_argument("out", help="output folder (written atomically)")
    p.add_argument("--dequantize", action="store_true",
                   help="for runs on a quantized base: merge into the full-precision base weights anyway")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.export.merge import merge_run

    print(f"merging {args.run} ...", flush=True)
    report = merge_run(args.run, args.out, dequantize=args.dequantize, force=args.force)
    print(report.describe())
    print(f"written: {args.out}")
    return 0
