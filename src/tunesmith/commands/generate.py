"""`tunesmith generate RUN PROMPTS OUT`: answer a file of prompts, batched, into JSONL."""

from __future__ import annotations

import argparse
import sys

from tunesmith.commands.chat import add_sampling_args, add_target_args, sampling_from

EPILOG = """\
examples:
  tunesmith generate runs/my-run prompts.jsonl answers.jsonl
  tunesmith generate runs/my-run val.json answers.jsonl --temperature 0.7 --seed 1 --batch-size 16

PROMPTS is any file tunesmith reads (alpaca, sharegpt, OpenAI messages, Human/Assistant text, csv).
A record ending with a user turn is a prompt; a record ending with an answer is asked its last
question and its answer is kept as "reference". Each output line has id, source (file:line),
prompt (the question as asked: an Alpaca record's instruction, then its input on the next line),
answer, reference, finish_reason ("stop" or "length": cut by --max-new-tokens) and token counts;
records that cannot be read or do not fit the context get an "error" line instead.
"""


def register(sub) -> None:
    p = sub.add_parser("generate", help="answer a file of prompts (batched) into JSONL", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Generate answers for every prompt in a file, with the run's template.")
    add_target_args(p)
    p.add_argument("prompts", help="input file of prompts or records")
    p.add_argument("out", help="output .jsonl file (written atomically)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts generated together (default 8)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad record instead of reporting it")
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.errors import TunesmithError
    from tunesmith.infer.batch import generate_file
    from tunesmith.infer.target import open_target

    if args.batch_size < 1:
        raise TunesmithError("--batch-size must be at least 1")
    target = open_target(args.target, template=args.template, dtype=args.dtype)
    summary = generate_file(target, args.prompts, args.out, sampling_from(args), batch_size=args.batch_size,
                            strict=args.strict)
    print(f"{summary.answered} answers written to {args.out}"
          + (f"; {summary.stopped_by_length} cut at --max-new-tokens" if summary.stopped_by_length else ""))
    for line in summary.errors[:10]:
        print(f"  skipped {line}", file=sys.stderr)
    if len(summary.errors) > 10:
        print(f"  ... and {len(summary.errors) - 10} more (see the error lines in {args.out})", file=sys.stderr)
    return 0
