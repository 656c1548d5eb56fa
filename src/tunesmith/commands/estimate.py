"""`tunesmith estimate run.yaml [--memory 24GiB]`: peak training memory before spending GPU time."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith estimate configs/smollm2-lora.yaml
  tunesmith estimate run.yaml model.path=meta-llama/Llama-2-7b-hf method.name=qlora --memory 24GiB
  tunesmith estimate run.yaml --device cpu

The estimate counts parameters exactly (the model is built without memory on the meta device and
the method applied) and models activations per token for a Llama layer with fused attention; the
tokens of a micro-batch are micro_batch_size x template.max_seq_len, the worst case of dynamic
padding. With --memory it lists setting changes that fit, as overrides to paste after `train`.
"""


def register(sub) -> None:
    p = sub.add_parser("estimate", help="predict a run's peak memory and suggest settings that fit",
                       description="Predict the peak memory of `tunesmith train` with this config: weights, "
                                   "gradients, optimizer states, activations, logits.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="run config (YAML)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.micro_batch_size=8")
    p.add_argument("--memory", help="memory to fit in, e.g. 24GiB, 80G; suggests settings that fit")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="where the run will train (default cuda; auto dtypes resolve as there)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config with comments and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith import config
    from tunesmith.commands.train import load_config
    from tunesmith.train import estimate as est

    cfg = load_config(args)
    if args.print_config:
        print(config.to_yaml(cfg), end="")
        return 0
    budget = est.parse_memory(args.memory) if args.memory else None
    hf = est.model_config(cfg)
    e = est.estimate(cfg, args.device, hf)
    share = 100 * e.trainable_params / max(e.total_params, 1)
    tc = cfg.train
    print(f"model {cfg.model.path}: {e.total_params / 1e6:,.1f}M parameters; method {cfg.method.name}: "
          f"{e.trainable_params / 1e6:,.2f}M trainable ({share:.2f}%)")
    rows = f"{tc.micro_batch_size} pair(s) = {2 * tc.micro_batch_size} rows" if tc.objective != "sft" \
        else f"{tc.micro_batch_size}"
    print(f"micro-batch {rows} x {cfg.template.max_seq_len} tokens, grad_accum {tc.grad_accum}, "
          f"gradient checkpointing {'on' if tc.gradient_checkpointing else 'off'}, on {args.device}")
    print()
    for name, value in e.parts.items():
        print(f"  {name:<32}{est.human(value):>12}")
    print(f"  {'peak (estimate)':<32}{est.human(e.peak):>12}")
    for note in e.notes:
        print(f"  note: {note}")
    if budget is None:
        return 0
    print()
    if e.peak <= budget:
        print(f"fits in {args.memory} ({est.human(budget - e.peak)} to spare)")
        return 0
    print(f"does not fit in {args.memory}: {est.human(e.peak - budget)} over")
    options = est.suggestions(cfg, budget, args.device, hf_config=hf)
    if not options:
        print("no combination of method, dtype, gradient checkpointing and micro-batch size fits; "
              "lower template.max_seq_len or use a bigger device")
        return 1
    print("settings that fit (append to `tunesmith train`):")
    for changes, option in options:
        print(f"  {est.human(option.peak):>10}  {' '.join(changes)}")
    return 1
