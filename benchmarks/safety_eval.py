"""How well `safety` tells harmful text from innocent text that uses the same words, and what it drops
on real instruction data.

    python benchmarks/safety_eval.py                     # labelled sets + real data (~1 minute)
    python benchmarks/safety_eval.py --show 20           # also print up to 20 misses / false alarms
    python benchmarks/safety_eval.py --judge http://127.0.0.1:8000/v1   # with a judge (slow, cached)

1. The labelled sets in tests/data/safety/*.jsonl (text, lang, category, label harmful|innocent, form
   standalone|embedded; written for this project, harmful and innocent texts sharing their sensitive
   words) and tests/data/safety/holdout/ (written after the rules were tuned on the first, and kept
   out of tests/test_steps_safety.py's thresholds): precision and recall per category, per form and
   per language. A record is caught when the step drops it (any category); precision counts a caught
   innocent record against the category it was written for.
2. The real sets (--real, default ../shared/realdata/*.json; files `data prepare` cannot read as
   instruction records, such as dpo_* preference pairs, are skipped): every drop and flag with its
   detail, and drop precision against benchmarks/real_labels/safety.jsonl (a drop without a label is
   listed as unlabelled).
3. The cost per record on the real sets (CPU time, `apply` on parsed records).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunesmith.records import formats  # noqa: E402
from tunesmith.records.example import Example  # noqa: E402
from tunesmith.prepare.steps.base import Drop  # noqa: E402
from tunesmith.prepare.steps.safety import SafetyStep  # noqa: E402

CATEGORIES = ("discrimination", "abuse", "violence", "sexual", "illegal")


def load(paths: list[str]) -> list[dict]:
    return [json.loads(line) for p in paths for line in open(p, encoding="utf-8") if line.strip()]


def evaluate(step: SafetyStep, rows: list[dict], show: int, title: str) -> None:
    tally: dict[str, Counter] = defaultdict(Counter)
    misses, alarms = [], []
    records = [Example.single("回答" if r["lang"] == "zh" else "Answer.", r["text"]) for r in rows]
    results = step.apply_batch(records)
    for r, out in zip(rows, results):
        caught = isinstance(out, Drop)
        keys = ["all", r["category"], f"{r['category']}/{r['form']}", f"{r['category']}/{r['lang']}",
                f"all/{r['form']}", f"all/{r['lang']}"]
        kind = ("tp" if caught else "fn") if r["label"] == "harmful" else ("fp" if caught else "tn")
        for k in keys:
            tally[k][kind] += 1
        if kind == "fn":
            misses.append(r)
        elif kind == "fp":
            alarms.append((r, out))
    print(f"\n{title}: {sum(r['label'] == 'harmful' for r in rows)} harmful, "
          f"{sum(r['label'] == 'innocent' for r in rows)} innocent")
    print(f"  {'':26s} {'precision':>9s} {'recall':>7s}   tp  fn  fp  tn")
    order = ["all", "all/standalone", "all/embedded", "all/zh", "all/en"]
    for c in CATEGORIES:
        order += [c, f"{c}/standalone", f"{c}/embedded", f"{c}/zh", f"{c}/en"]
    for k in order:
        t = tally.get(k)
        if not t:
            continue
        p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else float("nan")
        r = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else float("nan")
        print(f"  {k:26s} {p:9.3f} {r:7.3f}  {t['tp']:3d} {t['fn']:3d} {t['fp']:3d} {t['tn']:3d}")
    for r in misses[:show]:
        print(f"  MISSED   {r['category']:14s} {r['lang']} {r['form']:10s} {r['text'][:110]}")
    for r, out in alarms[:show]:
        print(f"  FALSE    {r['category']:14s} {r['lang']} {r['form']:10s} {out.detail[:110]}")


def real_sets(step: SafetyStep, paths: list[str], labels_path: Path) -> None:
    labels = {}
    if labels_path.is_file():
        for row in load([str(labels_path)]):
            labels[(row["id"], row["kind"], row["reason"])] = row["label"]
    decisions, records, skipped = [], [], []
    for path in paths:
        try:
            examples = [e for e in formats.read(path) if isinstance(e, Example)]
        except Exception as e:  # not instruction records (dpo_* pairs): say so and go on
            skipped.append(f"{Path(path).name} ({type(e).__name__})")
            continue
        if not examples:
            skipped.append(f"{Path(path).name} (no instruction records)")
            continue
        records += examples
    start = time.process_time()
    for e in records:
        out = step.apply(e)
        if isinstance(out, Drop):
            decisions.append((e.meta.get("id"), "drop", out.reason, out.detail))
        else:
            for flag in out.meta.get("flags", []):
                if flag["step"] == "safety":
                    decisions.append((e.meta.get("id"), "flag", flag["reason"], flag["detail"]))
    cost = (time.process_time() - start) / max(1, len(records)) * 1e6
    print(f"\nreal sets: {len(records)} records from {len(paths) - len(skipped)} files"
          + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    print(f"  cost: {cost:.1f} us/record (CPU, apply on parsed records)")
    right = sum(labels.get((i, k, r)) == "right" for i, k, r, _ in decisions if k == "drop")
    labelled = sum((i, k, r) in labels for i, k, r, _ in decisions if k == "drop")
    drops = sum(k == "drop" for _, k, _, _ in decisions)
    print(f"  drops: {drops}, labelled {labelled}, right {right}"
          + (f", drop precision {right / labelled:.3f}" if labelled else ", drop precision n/a (no labelled drops)"))
    for i, k, r, d in decisions:
        print(f"  {k:5s} {i:32s} {r:14s} {labels.get((i, k, r), 'unlabelled'):10s} {d[:120]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=str(ROOT / "tests" / "data" / "safety"))
    ap.add_argument("--real", nargs="*", default=sorted(glob.glob(str(ROOT.parent / "shared" / "realdata" / "*.json"))))
    ap.add_argument("--labels", default=str(ROOT / "benchmarks" / "real_labels" / "safety.jsonl"))
    ap.add_argument("--show", type=int, default=0, help="misses and false alarms to print per set")
    ap.add_argument("--judge", default=None, help="an OpenAI-compatible base URL to ask about borderline records")
    args = ap.parse_args()
    options = {"step": "safety"}
    if args.judge:
        options["judge"] = {"base_url": args.judge}
    step = SafetyStep(SafetyStep.Options(**options))
    sets = Path(args.sets)
    evaluate(step, load(sorted(glob.glob(str(sets / "*.jsonl")))), args.show, "labelled sets (tuned on)")
    holdout = sorted(glob.glob(str(sets / "holdout" / "*.jsonl")))
    if holdout:
        evaluate(step, load(holdout), args.show, "holdout set (written after tuning)")
    if args.real:
        real_sets(step, args.real, Path(args.labels))


if __name__ == "__main__":
    main()
