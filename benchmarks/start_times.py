"""How long `tunesmith chat` takes to start, before and after the .gguf conversion cache.

    python benchmarks/start_times.py --run runs/quickstart --gguf model.gguf --before REV [--repeats 3]
    python benchmarks/start_times.py ... --before REV --only src/tunesmith/model/load.py ...

Each number is the wall time of one fresh `tunesmith chat SPEC --prompt hi --max-new-tokens 1`
process (imports, loading, one token): what a user waits for. Sides, run interleaved in one run:

  before   the code at REV (a `git archive` of its src/), where every start of a .gguf dequantized it;
           with --only, this working tree's src/ with just those files as they were at REV
  first    this code with an empty $TUNESMITH_HOME/gguf/: the start that converts the file once
  later    this code again: the starts that read the converted folder

Every side shares one scratch $TUNESMITH_HOME whose models/ links to the real one (the embedded
SmolLM2 stays pulled); only its gguf/ folder is emptied for `first`. Printed: the median and each
try, plus this code's own account of the start ("ready in ..." with each phase). The wall clock of
a shared machine is noisy: CPU seconds (user+sys of the child) are printed beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", default=[], help="a run folder to start (repeatable)")
    ap.add_argument("--gguf", action="append", default=[], help="a .gguf file to start (repeatable)")
    ap.add_argument("--before", default="HEAD", help="git revision of the code to compare with")
    ap.add_argument("--only", nargs="*", default=[], metavar="FILE[@REV]",
                    help="take only these files from REV (or their own @REV), the rest from this working tree")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from tunesmith import paths

    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-start-"))
    home = scratch / "home"
    home.mkdir()
    (home / "models").symlink_to(paths.models_dir().resolve(), target_is_directory=True)
    before_src = _archive(args.before, scratch / "before", args.only)
    what = f"{', '.join(args.only)} as at" if args.only else "the code at"
    print(f"before = {what} {args.before} ({_rev(args.before)}), after = this working tree; {args.repeats} tries each")
    try:
        for spec in [*args.run, *args.gguf]:
            times: dict[str, list[tuple[float, float]]] = {"before": [], "first": [], "later": []}
            ready = ""
            for _ in range(args.repeats):
                times["before"].append(_start(spec, home, before_src)[:2])
                shutil.rmtree(home / "gguf", ignore_errors=True)
                times["first"].append(_start(spec, home, ROOT / "src")[:2])
                *took, ready = _start(spec, home, ROOT / "src")
                times["later"].append(tuple(took))
            print(f"\n{spec}")
            for side, tries in times.items():
                walls = [w for w, _ in tries]
                cpus = [c for _, c in tries]
                print(f"  {side:<7} median {statistics.median(walls):6.1f} s wall, {statistics.median(cpus):6.1f} s CPU"
                      f"   tries: {', '.join(f'{w:.1f}' for w in walls)}")
            print(f"  later's own account: {ready}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _start(spec: str, home: Path, src: Path) -> tuple[float, float, str]:
    """(wall s, child CPU s, the 'ready in' line) of one `tunesmith chat SPEC --prompt hi` process."""
    env = dict(os.environ, TUNESMITH_HOME=str(home), PYTHONPATH=str(src), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "tunesmith", "chat", spec, "--prompt", "hi", "--max-new-tokens", "1"]
    cpu0 = _child_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} (PYTHONPATH={src}) failed:\n{done.stderr}")
    ready = next((line for line in done.stderr.splitlines() if " ready in " in line), "")
    return wall, _child_cpu() - cpu0, ready


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _archive(rev: str, into: Path, only: list[str]) -> Path:
    """src/ of `rev` (or this tree's src/ with the files `only` from `rev`), unpacked, for PYTHONPATH."""
    into.mkdir()
    if only:
        shutil.copytree(ROOT / "src", into / "src", ignore=shutil.ignore_patterns("__pycache__"))
        for item in only:  # FILE, or FILE@REV for a file whose own history differs
            name, _, own = item.partition("@")
            old = subprocess.run(["git", "show", f"{own or rev}:{name}"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
            (into / name).write_bytes(old)
        return into / "src"
    data = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def _rev(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
