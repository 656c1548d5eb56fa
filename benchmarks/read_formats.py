"""Reading the same records as a `.json` array and as `.jsonl`: both must take time linear in the records.

    python benchmarks/read_formats.py                          # 52k records, as the issue measured
    python benchmarks/read_formats.py --n 10000 --no-prepare   # the raw read only
    python benchmarks/read_formats.py --real ../shared/realdata/alpaca_en_demo.json --workers 2

Builds, in a temporary folder, --n records by repeating the records of a real Alpaca set (--real; each
copy's instruction gets a copy number, so no two records are the same), written once as a pretty-printed
JSON array (as the real set is published) and once as JSON Lines. Then times, on each file:
  1. the raw read (`files.iter_raw`, what `data prepare`'s main process does per input),
  2. the full read into Examples (`formats.read`),
  3. `tunesmith data prepare` end to end (a subprocess; --steps, default none: read, shard, write, report),
and prints the seconds, µs per record, and the .json / .jsonl ratio. The real set is read from its path,
never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REAL = ROOT.parent / "shared" / "realdata" / "alpaca_zh_demo.json"


def build(real: Path, n: int, folder: Path) -> tuple[Path, Path]:
    """`n` records made from `real`'s, varied by a copy number; as .json (indent 2) and .jsonl."""
    base = json.loads(real.read_text(encoding="utf-8"))
    records = []
    for i in range(n):
        record = dict(base[i % len(base)])
        copy = i // len(base)
        if copy:
            record["instruction"] = f"{record.get('instruction', '')}（第{copy}版）"
        records.append(record)
    as_json, as_jsonl = folder / "records.json", folder / "records.jsonl"
    as_json.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    as_jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return as_json, as_jsonl


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def raw_read(path: Path) -> int:
    from tunesmith.records.formats import files

    return sum(1 for _ in files.iter_raw(path, parse=False))


def full_read(path: Path) -> int:
    from tunesmith.records import formats

    return sum(1 for _ in formats.read(path))


def prepare(path: Path, folder: Path, steps: str, workers: int) -> int:
    out = folder / f"out-{path.suffix[1:]}"
    config = folder / f"pipe-{path.suffix[1:]}.yaml"
    step_list = [{"step": s.strip()} for s in steps.split(",") if s.strip()] if steps != "none" else []
    config.write_text(json.dumps({"inputs": [str(path)], "steps": step_list, "workers": workers,
                                  "output": {"path": str(out / "train.jsonl")}}), encoding="utf-8")
    exe = Path(sys.executable).with_name("tunesmith")
    subprocess.run([str(exe), "data", "prepare", str(config), "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report["counts"]["read"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL, help="an Alpaca .json array to repeat")
    ap.add_argument("--n", type=int, default=52_000, help="records in each file")
    ap.add_argument("--steps", default="none", help="comma-separated steps for data prepare (default: none)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-prepare", action="store_true", help="time the reads only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        as_json, as_jsonl = build(args.real, args.n, folder)
        mib = as_json.stat().st_size / 2**20
        print(f"{args.n} records from {args.real.name}: .json {mib:.1f} MiB, "
              f".jsonl {as_jsonl.stat().st_size / 2**20:.1f} MiB")
        what = [("raw read (files.iter_raw)", raw_read), ("read into Examples (formats.read)", full_read)]
        if not args.no_prepare:
            what.append((f"data prepare (steps: {args.steps}, workers {args.workers})",
                         lambda p: prepare(p, folder, args.steps, args.workers)))
        for name, fn in what:
            (tj, nj), (tl, nl) = timed(lambda: fn(as_json)), timed(lambda: fn(as_jsonl))
            assert nj == nl == args.n, (name, nj, nl)
            print(f"{name:<48} .json {tj:8.2f} s ({tj / args.n * 1e6:7.1f} µs/rec)   "
                  f".jsonl {tl:8.2f} s ({tl / args.n * 1e6:7.1f} µs/rec)   ratio {tj / tl:5.2f}")


if __name__ == "__main__":
    main()
