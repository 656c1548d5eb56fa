"""`tunesmith eval RUN --data FILE [--base]`: loss, perplexity, BLEU/ROUGE and multiple choice, tuned vs base;
`--pairs FILE`: preference accuracy and reward margin on preference pairs (evaluate/preference.py)."""

from __future__ import annotations

import argparse

from tunesmith.commands.chat import add_sampling_args, add_target_args, sampling_from

EPILOG = """\
examples:
  tunesmith eval runs/my-run --data val.jsonl --base
  tunesmith eval runs/my-run --data val.jsonl --base --max-samples 50 --max-new-tokens 128
  tunesmith eval runs/my-run --choice ceval/ --shots 5 --base        (C-Eval / CMMLU / MMLU csv files)
  tunesmith eval runs/my-dpo --pairs val_pairs.jsonl --base           (preference pairs)

What is measured:
  loss, perplexity   on the answer tokens only, rendered exactly as in training (same template and mask)
  BLEU-4, ROUGE-1/2/L, exact match
                     of the generated answers against the records' answers; Chinese is cut into words
                     with jieba, other text into words and punctuation; scores 0-100
  choice accuracy    the option letter the model puts first, per subject and overall
  --pairs            per model: preference accuracy (log p(chosen) > log p(rejected), summed and per token)
                     and the mean log-prob margin; with --base the tuned model's DPO reward against the
                     base (beta = the run's train.beta): reward accuracy and mean reward margin
With --base the model before tuning answers the same prompts, side by side, and each difference
(tuned - base of the metric over all records; for loss and perplexity lower is better) gets a paired
bootstrap 95% interval over the records, so that noise is not reported as a win.
Written to OUT (default RUN/eval/<data name>/): report.md, report.html, results.json, predictions.jsonl;
for --pairs pairs.md and pairs.json (in RUN/eval/<pairs name>/, or OUT).
"""


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run (loss, BLEU/ROUGE, multiple choice), tuned vs base",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Evaluate a tuned run on held-out records and/or multiple-choice files.")
    add_target_args(p)
    p.add_argument("--data", help="held-out records with answers (any format tunesmith reads)")
    p.add_argument("--choice", metavar="DIR_OR_CSV", help="multiple-choice files (C-Eval, CMMLU or MMLU layout)")
    p.add_argument("--pairs", help="preference pairs (chosen and rejected answers, any pair format tunesmith reads)")
    p.add_argument("--shots", type=int, default=0, help="few-shot examples from the dev files (default 0)")
    p.add_argument("--base", action="store_true", help="also evaluate the base model and compare")
    p.add_argument("--max-samples", type=int, help="generate answers for at most this many records (loss uses all)")
    p.add_argument("--batch-size", type=int, default=8, help="records per forward pass / generation batch")
    p.add_argument("--out", help="report folder (default RUN/eval/<data name>/)")
    add_sampling_args(p, max_new_tokens=128)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.errors import TunesmithError
    from tunesmith.evaluate import report
    from tunesmith.evaluate.compare import default_out_dir, evaluate
    from tunesmith.infer.target import open_target

    if not args.data and not args.choice and not args.pairs:
        raise TunesmithError("nothing to evaluate", "give --data FILE (records with answers), --choice DIR and/or "
                                                    "--pairs FILE (preference pairs)")
    target = open_target(args.target, template=args.template, dtype=args.dtype)
    if args.pairs:
        _pairs(args, target)
        if not args.data and not args.choice:
            return 0
    ev = evaluate(target, data=args.data, choice=args.choice, base=args.base, max_samples=args.max_samples,
                  sampling=sampling_from(args), batch_size=args.batch_size, shots=args.shots)
    out = args.out or default_out_dir(target, args.data, args.choice)
    paths = report.write(ev, out)
    width = max(len(name) for name, *_ in report.rows(ev))
    print(f"{'metric':<{width}}  {'tuned':>10}" + (f"  {'base':>10}" if ev.base else ""))
    for name, t, b, _ in report.rows(ev):
        print(f"{name:<{width}}  {report.fmt(t):>10}" + (f"  {report.fmt(b):>10}" if ev.base else ""))
    for d in ev.differences:
        print(f"{report.metric_name(d)}: tuned - base {d.delta:+.4f}, "
              f"95% interval [{d.low:+.4f}, {d.high:+.4f}]: {d.verdict}")
    if ev.bad_records:
        print(f"{len(ev.bad_records)} records not used (see results.json)")
    print(f"report: {paths['report.html']} (and report.md, results.json, predictions.jsonl)")
    return 0


def _pairs(args, target) -> None:
    from tunesmith.evaluate import preference
    from tunesmith.evaluate.compare import default_out_dir

    ev = preference.evaluate_pairs(target, args.pairs, base=args.base, batch_size=args.batch_size)
    out = args.out or default_out_dir(target, args.pairs, None)  # pairs.* sit beside report.* in one --out
    paths = preference.write(ev, out)
    print(f"{ev.pairs} preference pairs from {args.pairs}" + (f" ({len(ev.skipped)} left out)" if ev.skipped else ""))
    print(preference.table(ev))
    print(f"report: {paths['pairs.md']} (and pairs.json)")
