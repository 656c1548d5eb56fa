"""`tunesmith data prepare pipeline.yaml`: clean, filter, scrub and de-duplicate, with a report."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith data prepare examples/prepare.yaml
  tunesmith data prepare examples/prepare.yaml workers=2 output.path=out/train.jsonl
  tunesmith data prepare examples/prepare.yaml --print-config      # every key, resolved, with comments
  tunesmith data prepare --list-steps                               # the steps and their options
  tunesmith data prepare pipeline.yaml --columns instruction=question,output=answer   # a CSV's own columns

A minimal pipeline.yaml:
  inputs: [raw.jsonl]
  steps:
    - {step: clean, urls: remove}
    - {step: language, keep: [zh, en]}
    - {step: quality}
    - {step: pii, actions: {id_card: drop}}
    - {step: safety, action: drop}
  output: {path: prepared/train.jsonl, format: alpaca}

It writes prepared/train.jsonl, and next to it rejected.jsonl (each dropped record with its step and
reason), changes.jsonl (each record a step changed, before and after), flagged.jsonl (records kept but
flagged for review), report.json and report.html. An interrupted run started again resumes from finished shards.
"""


def register(sub) -> None:
    p = sub.add_parser("prepare", help="clean, filter, scrub PII, check safety; writes a report",
                       description="Run an ordered list of data steps over instruction records and write the kept "
                                   "records, rejected.jsonl, report.json and report.html.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="pipeline YAML file")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. workers=2 output.format=sharegpt")
    p.add_argument("--columns", help="rename the inputs' fields, as data convert takes it: "
                                     "instruction=question,output=answer (the YAML's columns: key)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--list-steps", action="store_true", help="list the steps and their options, then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.config import split_positionals, to_yaml
    from tunesmith.prepare.pipeline import prepare
    from tunesmith.prepare.config import load_config
    from tunesmith.errors import ConfigError

    if args.list_steps:
        print(list_steps())
        return 0
    path, overrides = split_positionals([args.config, *args.overrides] if args.config else args.overrides)
    if path is None:
        raise ConfigError("no pipeline config given", "tunesmith data prepare pipeline.yaml (see --help)")
    cfg = load_config(path, overrides)
    if args.columns:  # the same mapping as the YAML's `columns:`, merged over it
        from tunesmith.records.formats.convert import parse_columns

        cfg.columns = {**cfg.columns, **parse_columns(args.columns)}
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    result = prepare(cfg, progress=not args.no_progress)
    print(f"read {result.read:,} · kept {result.kept:,} · rejected {result.rejected:,} "
          f"in {result.seconds:.1f} s" + (f" ({result.resumed_shards} shards resumed)" if result.resumed_shards else ""))
    for key, n in sorted(result.drops.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>9,}  {key}")
    if result.flags:
        print(f"kept but flagged for review: {result.flagged:,} record{'' if result.flagged == 1 else 's'}")
        for key, n in sorted(result.flags.items(), key=lambda kv: -kv[1]):
            print(f"  {n:>9,}  {key}")
    print(f"kept:     {result.output}\nrejected: {result.rejected_path}")
    if result.changes_path is not None:
        print(f"changes:  {result.changes_path} ({result.changes:,} records changed by a step)")
    if result.flags:
        print(f"flagged:  {result.flagged_path}")
    print(f"report:   {result.report_html}")
    return 0


def list_steps() -> str:
    from tunesmith.prepare.steps import STEPS, SetStep

    lines = []
    for name, cls in STEPS.items():
        kind = "whole set" if issubclass(cls, SetStep) else "per record"
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"{name}  ({kind})" + (f": {doc[0]}" if doc else ""))
        for key, field in cls.Options.model_fields.items():
            if key == "step":
                continue
            text = (field.description or "").replace("\n", " ")
            if field.is_required():  # no default to show (pydantic's would print as PydanticUndefined)
                lines.append(f"    {key} (required): {text}")
                continue
            default = field.get_default(call_default_factory=True)
            if hasattr(default, "model_dump"):  # a nested block (the model): show its main key only
                default = {"path": getattr(default, "path", None)}
            lines.append(f"    {key} = {default!r}: {text}")
    return "\n".join(lines)
