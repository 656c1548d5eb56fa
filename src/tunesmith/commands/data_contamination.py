"""`tunesmith data contamination TRAIN EVAL...`: training records that duplicate evaluation records."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith data contamination train.jsonl mmlu_dev.jsonl ceval_val.json
  tunesmith data contamination train.jsonl bench.jsonl --method exact
  tunesmith data contamination train.jsonl bench.jsonl --remove --out train.clean.jsonl
  tunesmith data contamination train.jsonl bench.jsonl --fields all --threshold 0.8 --report hits.json
  tunesmith data contamination train.jsonl examples/eval/ceval examples/eval/mmlu     (what eval --choice reads)
  tunesmith data contamination qa.csv bench.jsonl --columns instruction=question,output=answer

What counts as a match: the prompt (instruction + input; --fields changes it) of a training record
equals an evaluation record's after folding case, width, punctuation, whitespace and traditional vs
simplified Chinese (exact), or their word/character n-gram sets are alike at --threshold or above
(near). --criterion picks the measure: jaccard (MinHash-LSH candidates, each checked exactly),
containment (share of the eval record's n-grams found in the training record: catches a benchmark
question buried in a long record; counted for eval records of --min-shingles n-grams or more), or
max (default: either). Evaluation files may hold prompts
only (no answers). A multiple-choice CSV in the C-Eval, CMMLU or MMLU layout, or a folder of them (as
`eval --choice` reads them), is compared as each question followed by its options ("A. ..." lines) as
its input. --columns renames the fields of every file read (TRAIN and EVAL), as `data convert` does.
With --remove, the clean training records go to --out (same record format as TRAIN unless --to) and
the removed ones, each naming its evaluation twin, beside it: --out's name with
its extension replaced by .contaminated.jsonl (--out train.clean.jsonl: train.clean.contaminated.jsonl).
Unreadable training records are listed with file:line; with --remove they go, verbatim, to
train.clean.unreadable.jsonl, named the same way (never silently dropped).
"""


def register(data_sub) -> None:
    from tunesmith.records.formats import FORMATS, WRITE_FORMATS

    p = data_sub.add_parser("contamination", help="find (and remove) training records that duplicate eval records",
                            description="Report training records that exactly or nearly duplicate records of "
                                        "evaluation or benchmark files; optionally write a clean copy.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train", help="training data file")
    p.add_argument("evals", nargs="+", metavar="EVAL",
                   help="evaluation / benchmark files, or folders of C-Eval/CMMLU/MMLU csv files")
    p.add_argument("--method", choices=("near", "exact"), default="near", help="near (default) includes exact")
    p.add_argument("--threshold", type=float, default=0.7, help="similarity for near matches (default 0.7)")
    p.add_argument("--criterion", choices=("max", "jaccard", "containment"), default="max",
                   help="near measure: max of jaccard and containment (default), jaccard, containment")
    p.add_argument("--min-shingles", type=int, default=5,
                   help="containment counts only for eval records with this many n-grams or more (default 5)")
    p.add_argument("--fields", default="instruction,input",
                   help="texts compared, comma-separated: system, instruction, input, output, all "
                        "(default instruction,input)")
    p.add_argument("--columns", help="rename input fields (every file): instruction=question,output=answer")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="input record format (default: detect)")
    p.add_argument("--remove", action="store_true", help="write the training records that are not contaminated")
    p.add_argument("--out", help="clean training file (needed with --remove)")
    p.add_argument("--to", choices=WRITE_FORMATS, help="record format of --out (default: TRAIN's)")
    p.add_argument("--report", help="write every hit as JSON to this file")
    p.add_argument("--show", type=int, default=10, help="hits to print (default 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from tunesmith.dedup.contamination import find_contamination
    from tunesmith.records.example import FIELD_NAMES
    from tunesmith.records.formats import BadRecord, detect, read, write
    from tunesmith.records.formats.convert import parse_columns
    from tunesmith.errors import ConfigError, DataError
    from tunesmith.io import atomic_write_text as _atomic_text

    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    unknown = [f for f in fields if f not in FIELD_NAMES]
    if unknown or not fields:
        raise ConfigError(f"--fields: unknown field(s) {unknown or args.fields!r}",
                          f"choose from {', '.join(FIELD_NAMES)}, comma-separated")
    if not 0 < args.threshold <= 1:
        raise ConfigError(f"--threshold {args.threshold}: must be in (0, 1]", "a similarity such as 0.7")
    if args.min_shingles < 1:
        raise ConfigError(f"--min-shingles {args.min_shingles}: must be 1 or more", "the default is 5")
    if args.remove and not args.out:
        raise ConfigError("--remove needs --out CLEAN (the file the clean training records go to)",
                          "add --out train.clean.jsonl")
    columns = parse_columns(args.columns)
    for path in [args.train, *args.evals]:
        if not Path(path).is_file() and not (path != args.train and Path(path).is_dir()):
            raise DataError(f"file not found: {path}", "check the path")

    train, bad = [], []
    for item in read(args.train, format=args.format, columns=columns):
        (bad if isinstance(item, BadRecord) else train).append(item)
    evals = {}
    for path in args.evals:
        if columns is None and args.format == "auto" and _is_choice(path):
            evals[path] = choice_records(path)
            continue
        items = list(read(path, format=args.format, columns=columns, prompts=True))
        evals[path] = [e for e in items if not isinstance(e, BadRecord)]
        skipped = len(items) - len(evals[path])
        if skipped:
            print(f"{path}: {skipped} unreadable records skipped", file=sys.stderr)

    report = find_contamination(train, evals, method=args.method, threshold=args.threshold, fields=fields,
                                criterion=args.criterion, min_shingles=args.min_shingles)
    print(f"{args.train}: {report.train_records} records read, {len(report.hits)} contaminated "
          f"({100 * len(report.hits) / max(1, report.train_records):.1f}%)")
    for name, count in report.per_eval_file().items():
        print(f"  {name}: {report.eval_records[name]} eval records; {count} training records match one")
    for hit in report.hits[:args.show]:
        how = hit.method if hit.method == "exact" else f"{hit.measure} {hit.similarity:.2f}"
        print(f"  {hit.train_id} ~ {hit.eval_file}:{hit.eval_id} ({how})")
    if len(report.hits) > args.show:
        print(f"  ... {len(report.hits) - args.show} more" + ("" if args.report else " (--report FILE lists all)"))
    if bad:
        print(f"{len(bad)} unreadable training records (not checked" + (", not written" if args.remove else "")
              + f"); first: {bad[0].where()}: {bad[0].reason}", file=sys.stderr)
    if args.report:
        _atomic_text(Path(args.report), json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        print(f"{args.report}: every hit")
    if args.remove:
        dirty = report.contaminated()
        to = args.to or _train_format(args.train, args.format, detect)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        n = write((e for i, e in enumerate(train) if i not in dirty), out, to=to)
        removed = side_file(out, "contaminated")
        rows = {h.train_index: h for h in report.hits}
        _atomic_text(removed, "".join(json.dumps({**rows[i].to_dict(), "record": train[i].to_dict()},
                                                 ensure_ascii=False) + "\n" for i in sorted(dirty)))
        print(f"{out}: {n} clean records ({to}); {removed}: {len(dirty)} removed, each with its eval twin")
        if bad:  # kept verbatim so nothing is lost: fix them and check again
            unreadable = side_file(out, "unreadable")
            _atomic_text(unreadable, "".join(json.dumps(b.to_dict(), ensure_ascii=False) + "\n" for b in bad))
            print(f"{unreadable}: {len(bad)} unreadable training records, with file:line, reason and raw text")
    return 0


def _is_choice(path) -> bool:
    from pathlib import Path

    from tunesmith.evaluate.choice import is_choice_csv

    return Path(path).is_dir() or is_choice_csv(path)


def choice_records(path) -> list:
    """The questions of a multiple-choice CSV (or a folder of them) as records: the question, its options
    as the input ("A. ..." lines, so --fields instruction,input compares both), the answer if known."""
    from pathlib import Path

    from tunesmith.evaluate.choice import all_questions
    from tunesmith.records.example import Example, Turn

    out = []
    for q in all_questions(path):
        source, _, line = q.where.rpartition(":")
        turns = [Turn("user", q.text, "\n".join(f"{k}. {v}" for k, v in q.options.items()))]
        if q.answer:
            turns.append(Turn("assistant", f"{q.answer}. {q.options[q.answer]}"))
        out.append(Example(turns, None, {"source": source, "line": int(line), "id": f"{Path(source).stem}:{line}"}))
    return out


def side_file(out, kind: str):
    """OUT's name with its extension replaced: train.clean.jsonl -> train.clean.contaminated.jsonl (as --help says)."""
    return out.with_name(f"{out.stem}.{kind}.jsonl")


def _train_format(path, format, detect) -> str:
    if format != "auto":
        return format
    found = detect(path)
    return found if found in ("alpaca", "sharegpt", "messages", "conversation") else "alpaca"
