"""`tunesmith inspect DATA --template T --tokenizer PATH`: see what training will see."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith inspect examples/train.jsonl --template auto --tokenizer smollm2
  tunesmith inspect zh.csv --template llama2-zh --tokenizer ./Llama-2-7b-hf --max-seq-len 512
  tunesmith inspect data.jsonl --template llama2 --tokenizer ./llama --json > stats.json

Samples show trained tokens (the answers and each end-of-turn token) highlighted and the masked
prompt dimmed. Statistics: token length distribution, truncation rate (samples cut or dropped to fit
--max-seq-len), trained-token share, and tokens per character for Chinese and other records.
"""


def register(sub) -> None:
    from tunesmith.records.formats import FORMATS
    from tunesmith.runs.config import TemplateConfig
    from tunesmith.text.templates import TEMPLATE_NAMES

    defaults = TemplateConfig()  # what `train` renders with when a run config leaves the template alone

    p = sub.add_parser("inspect", help="show rendered samples with their loss mask, and token statistics",
                       description="Render a data file with a chat template and tokenizer, as training will.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="data file (.json, .jsonl, .csv, .parquet, .txt)")
    p.add_argument("--template", default=defaults.name, choices=TEMPLATE_NAMES,
                   help="chat template (default: %(default)s, the tokenizer's own)")
    p.add_argument("--tokenizer", required=True, help="model or tokenizer folder, embedded name (smollm2), or hub id")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="record format (default: detect)")
    p.add_argument("--max-seq-len", type=int, default=defaults.max_seq_len)
    p.add_argument("--train-on", default=defaults.train_on, choices=("all", "last"))
    p.add_argument("--truncation", default=defaults.truncation, choices=("cut_oldest", "drop"))
    p.add_argument("--system", help="system prompt for records without one")
    p.add_argument("--samples", type=int, default=3, help="rendered samples to show (default 3)")
    p.add_argument("--limit", type=int, help="inspect only the first N records")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON instead")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from tunesmith.evaluate.inspect import inspect, load_tokenizer_for

    tokenizer = load_tokenizer_for(args.tokenizer)
    result = inspect(args.data, args.template, tokenizer, max_seq_len=args.max_seq_len, train_on=args.train_on,
                     truncation=args.truncation, fmt=args.format, system=args.system,
                     samples=0 if args.json else args.samples, limit=args.limit, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(result.summary(), indent=2, ensure_ascii=False))
    else:
        _show(result, tokenizer, args)
    return 0


def _show(result, tokenizer, args) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tunesmith.evaluate.inspect import segments

    console = Console(highlight=False)
    for example, rendered in result.samples:
        where = f"{example.meta.get('source')}:{example.meta.get('line')}"
        note = f", {rendered.turns_cut} oldest turns cut" if rendered.truncated else ""
        console.rule(f"{where}  {len(rendered.input_ids)} tokens, {rendered.trained_tokens} trained{note}")
        text = Text()
        for piece, trained in segments(rendered, tokenizer):
            text.append(piece, style="bold green" if trained else "dim")
        console.print(text)
    s = result.summary()
    console.rule(f"{args.data}: template {args.template}, max_seq_len {args.max_seq_len}")
    table = Table(show_header=False, box=None)
    length = s["length"]
    rows = [
        ("records", f"{s['records']} read, {s['bad_records']} bad, {s['rendered']} rendered"),
        ("length (tokens)", f"min {length['min']}  mean {length['mean']:.1f}  p50 {length['p50']}  p90 {length['p90']}"
                            f"  p99 {length['p99']}  max {length['max']}"),
        ("truncation rate", f"{s['truncation_rate']:.1%} ({s['truncated']} cut, {s['dropped_too_long']} dropped)"),
        ("trained share", f"{s['trained_share']:.1%} of {s['tokens']} tokens"),
    ]
    for script, v in s["tokens_per_char"].items():
        rows.append((f"tokens/char ({script})", f"{v['tokens_per_char']:.2f} over {v['records']} records"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    console.print(_histogram(result.lengths, args.max_seq_len))
    for bad in result.bad[:5]:
        console.print(f"[yellow]bad record[/] {bad.where()}: {bad.reason}")
    for why in result.dropped[:5]:
        console.print(f"[yellow]dropped[/] {why}")


def _histogram(lengths: list[int], max_seq_len: int, bins: int = 8, width: int = 40) -> str:
    if not lengths:
        return "no rendered samples"
    step = max(1, -(-max(max(lengths), 1) // bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, (n - 1) // step if n else 0)] += 1
    top = max(counts)
    lines = ["length histogram:"]
    for i, c in enumerate(counts):
        lo, hi = i * step + 1, (i + 1) * step
        lines.append(f"  {lo:>6}-{hi:<6} {'█' * round(width * c / top):<{width}} {c}")
    return "\n".join(lines)
