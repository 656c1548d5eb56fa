"""Training runs the UI launches, stops, resumes and watches.

A run is `tunesmith train <output_dir>.yaml` in a process of its own (its own session, so a run
outlives the UI and a crash in it never touches the server). Its output goes to `<output_dir>.log`
and its pid to `<output_dir>.ui.json`, so a restarted UI still finds, watches and stops it. Stop is
SIGINT, the Ctrl-C the loop answers by finishing the step and saving a checkpoint; resume is
`tunesmith train <run>/config.yaml --resume`, offered only for a run that has a checkpoint and has not
finished (`why_not_resumable`). Progress comes from the run folder alone
(metrics.jsonl, manifest.json), so runs started from a terminal show up the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tunesmith.train.metrics import read as read_metrics
from tunesmith.runs.folder import RunFolder
from tunesmith.ui.errors import FieldError

LOG_TAIL_LINES = 40


def sidecar(run_dir: Path, suffix: str) -> Path:
    """`runs/x` -> `runs/x.yaml`, `runs/x.log`, `runs/x.ui.json`: next to the run folder, never inside it
    (a folder with files in it before `train` starts would look like a used output_dir)."""
    return run_dir.with_name(run_dir.name + suffix)


class Jobs:
    def __init__(self, root: Path):
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}   # resolved run dir -> process started by this server

    # -- launching -------------------------------------------------------------------------------
    def launch(self, run_dir: Path, config: Path, *, overwrite: bool = False, resume: bool = False) -> list[str]:
        if self.alive(run_dir):
            raise FieldError("output_dir", f"{self.name(run_dir)} is running already", "stop it first")
        argv = ["tunesmith", "train", self._rel(config), "--no-progress"] + (["--overwrite"] if overwrite else []) \
            + (["--resume"] if resume else [])
        log = sidecar(run_dir, ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"\n$ {shlex.join(argv)}   # {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.flush()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen([sys.executable, "-m", "tunesmith", *argv[1:]], cwd=self.root, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        self.procs[str(run_dir.resolve())] = proc
        sidecar(run_dir, ".ui.json").write_text(json.dumps({"pid": proc.pid, "command": argv,
                                                            "started": time.time()}), encoding="utf-8")
        return argv

    def stop(self, run_dir: Path) -> int:
        pid = self._pid(run_dir)
        if pid is None or not self.alive(run_dir):
            raise FieldError("run", f"{self.name(run_dir)} is not running")
        os.kill(pid, signal.SIGINT)  # the loop finishes the step, saves a checkpoint and exits 130
        return pid

    # -- state -----------------------------------------------------------------------------------
    def _pid(self, run_dir: Path) -> int | None:
        proc = self.procs.get(str(run_dir.resolve()))
        if proc is not None:
            return proc.pid
        try:
            return int(json.loads(sidecar(run_dir, ".ui.json").read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def alive(self, run_dir: Path) -> bool:
        proc = self.procs.get(str(run_dir.resolve()))
        if proc is not None:
            return proc.poll() is None
        pid = self._pid(run_dir)
        if pid is None:
            return False
        try:  # a pid from an earlier UI session: alive only if it is still a tunesmith train process
            return b"tunesmith" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def exit_code(self, run_dir: Path) -> int | None:
        proc = self.procs.get(str(run_dir.resolve()))
        return proc.poll() if proc is not None else None

    def status(self, run_dir: Path) -> str:
        """running | finished | stopped (a checkpoint to resume) | failed | starting | incomplete."""
        folder = RunFolder(run_dir)
        if self.alive(run_dir):
            return "running" if folder.metrics.is_file() else "starting"
        if folder.finished():
            return "finished"
        code = self.exit_code(run_dir)
        if code not in (None, 0, 130) or (code is None and log_error(sidecar(run_dir, ".log"))):
            return "failed"
        return "stopped" if folder.latest_checkpoint() is not None else "incomplete"

    def why_not_resumable(self, run_dir: Path) -> tuple[str, str] | None:
        """None when `--resume` can continue the run; else (what stands in the way, what to do instead).
        `train --resume` needs a checkpoint, and a finished run has nothing left to train (its
        checkpoints, if train.save_every kept any, are from before the end)."""
        folder, name = RunFolder(run_dir), self.name(run_dir)
        if self.alive(run_dir):
            return f"{name} is running", "stop it first"
        if folder.finished():
            return (f"{name} has finished: there is nothing to resume",
                    f"chat with it (tunesmith chat {name}), or launch a new run from the form")
        if not folder.config.is_file():
            return f"{name} has no config.yaml: it never started", "launch it again from the form"
        if folder.latest_checkpoint() is None:
            return (f"{name} has no checkpoint to resume from",
                    "checkpoints are written every train.save_every steps and on Stop; launch it again "
                    "with overwrite")
        return None

    # -- listing and watching ----------------------------------------------------------------------
    def runs(self, runs_dir: Path) -> list[Path]:
        from tunesmith.runs.folder import is_run

        found = {str(p.resolve()): p for p in runs_dir.glob("*") if is_run(p)}
        for marker in runs_dir.glob("*.ui.json"):  # launched, maybe not started writing yet
            run = marker.with_name(marker.name[:-len(".ui.json")])
            found.setdefault(str(run.resolve()), run)
        for key in self.procs:
            found.setdefault(key, Path(key))
        return sorted(found.values(), key=_last_change, reverse=True)

    def name(self, run_dir: Path) -> str:
        return self._rel(run_dir)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def summary(self, run_dir: Path) -> dict:
        folder = RunFolder(run_dir)
        config = _read_yaml(folder.config)
        records = read_metrics(folder.metrics)
        return {"dir": self.name(run_dir), "status": self.status(run_dir),
                "method": (config.get("method") or {}).get("name"), "model": (config.get("model") or {}).get("path"),
                **progress(records, _manifest(folder).get("total_steps"))}

    def detail(self, run_dir: Path, since: int = 0) -> dict:
        folder = RunFolder(run_dir)
        records = read_metrics(folder.metrics)
        manifest = _manifest(folder)
        log = sidecar(run_dir, ".log")
        status = self.status(run_dir)
        config_file = folder.config if folder.config.is_file() else sidecar(run_dir, ".yaml")
        resumable = self.why_not_resumable(run_dir) is None
        out = {"dir": self.name(run_dir), "status": status, "records": records[since:], "count": len(records),
               **progress(records, manifest.get("total_steps")), "log": tail(log),
               "error": log_error(log) if status == "failed" else None,
               "checkpoint": str(folder.latest_checkpoint().name) if folder.latest_checkpoint() else None,
               "resumable": resumable,
               "commands": {"train": shlex.join(["tunesmith", "train", self._rel(sidecar(run_dir, ".yaml"))]),
                            # offered only where it works (a finished run, or one with no checkpoint, fails on it)
                            "resume": shlex.join(["tunesmith", "train", self._rel(folder.config), "--resume"])
                            if resumable else None,
                            "chat": shlex.join(["tunesmith", "chat", self.name(run_dir)]),
                            "stop": "Ctrl-C in its terminal (here: SIGINT to its process)"}}
        if since == 0:
            out["manifest"] = manifest
            out["config"] = config_file.read_text(encoding="utf-8") if config_file.is_file() else None
        return out


def progress(records: list[dict], total_steps: int | None) -> dict:
    """Step, loss, tokens/s and ETA from the metrics. Seconds per step come from each record's tokens and
    tokens/s (the loop's own timing of forward + backward), averaged over the last ten steps."""
    train = [r for r in records if "loss" in r]
    last = train[-1] if train else {}
    recent = [r for r in train[-10:] if r.get("tok_s")]
    tok_s = sum(r["tok_s"] for r in recent) / len(recent) if recent else None
    sec_per_step = sum(r["tokens"] / r["tok_s"] for r in recent) / len(recent) if recent else None
    step = last.get("step", 0)
    eta = (total_steps - step) * sec_per_step if total_steps and sec_per_step is not None else None
    evals = [r for r in records if "eval_loss" in r]
    return {"step": step, "total_steps": total_steps, "loss": last.get("loss"), "tok_s": tok_s, "eta_s": eta,
            "eval_loss": evals[-1]["eval_loss"] if evals else None}


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def log_error(path: Path) -> str | None:
    """The error of the last attempt in a run's log: tunesmith's one-line `error:` (+ hint), or a
    traceback's last line (a bug); None when the last attempt shows neither."""
    text = tail(path, 400)
    attempt = text.rsplit("\n$ tunesmith", 1)[-1].splitlines()
    for i, line in enumerate(attempt):
        if line.startswith("error: "):
            hint = attempt[i + 1].strip() if i + 1 < len(attempt) and attempt[i + 1].strip().startswith("hint:") else ""
            return (line[len("error: "):] + ("\n" + hint if hint else "")).strip()
    if any(line.startswith("Traceback") for line in attempt):
        return next((line for line in reversed(attempt) if line.strip()), None)
    return None


def _manifest(folder: RunFolder) -> dict:
    try:
        return json.loads(folder.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _last_change(run_dir: Path) -> float:
    times = [p.stat().st_mtime for p in (run_dir, sidecar(run_dir, ".log"), run_dir / "metrics.jsonl") if p.exists()]
    return max(times, default=0.0)
