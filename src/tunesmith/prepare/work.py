"""The work folder of `data prepare`: every path, done marker and save of a run's shards, in one place.

    WorkFolder  work_dir/                   fingerprint (what the shards depend on), one StageFolder per stage
    StageFolder work_dir/stageN/            its shards, and clusters.jsonl (a whole-set step's audit)
    Shard       work_dir/stageN/NNNNNN.*    kept.jsonl or output.jsonl (+ unwritable.jsonl), rejected.jsonl,
                                            changes.jsonl, flagged.jsonl, and stats.json, written LAST

The presence of a shard's stats file means done, so a run started again with the same fingerprint
(config, inputs' sizes and modification times) skips it. How a stage saves its shards (`SavePlan`) is
plain data, so a worker process or a Ray task saves its own shard and sends back only a count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import DataError
from tunesmith.io import atomic_write_text
from tunesmith.prepare.config import PrepareConfig
from tunesmith.prepare.output import DirectOutput
from tunesmith.prepare.stage import BatchResult
from tunesmith.records.example import Example

log = logging.getLogger(__name__)


def json_lines(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_scratch(path: Path, text: str) -> None:
    """A work-folder file. It only needs to survive an interrupted process, which the page cache does:
    atomic, but not flushed to disk (several flushes per shard would add up)."""
    atomic_write_text(path, text, fsync=False)


@dataclass(frozen=True)
class SavePlan:
    """How a stage saves its shards: record stages also write what their steps changed and flagged
    (`review`, with unified diffs when `diffs`); the last record stage, with a JSON Lines output, writes
    output lines instead of kept Examples (`output`)."""
    review: bool = False
    diffs: bool = False
    output: DirectOutput | None = None


@dataclass(frozen=True)
class Shard:
    """One shard of a stage: its files and whether it is done."""
    folder: Path
    index: int

    def path(self, kind: str) -> Path:
        return self.folder / f"{self.index:06d}.{kind}"

    @property
    def done(self) -> bool:
        return self.path("stats.json").is_file()

    def stats(self) -> dict:
        return json.loads(self.path("stats.json").read_text(encoding="utf-8"))

    def kept(self) -> list[Example]:
        with open(self.path("kept.jsonl"), encoding="utf-8") as f:
            return [Example.from_dict(json.loads(line)) for line in f]

    def save(self, batch: BatchResult, plan: SavePlan = SavePlan()) -> None:
        """Review files, records, rejects, then the stats file: its presence marks the shard finished."""
        if plan.review:
            if batch.changes is not None:
                rows = batch.changes
                if plan.diffs:
                    from tunesmith.prepare.report_diff import with_diff

                    rows = [with_diff(r) for r in rows]
                write_scratch(self.path("changes.jsonl"), json_lines(rows))
            write_scratch(self.path("flagged.jsonl"), json_lines(batch.flagged))
        stats = batch.to_json()
        if plan.output is None:
            write_scratch(self.path("kept.jsonl"), json_lines(e.to_dict() for e in batch.kept))
        else:
            lines, unwritable, stats["output"] = plan.output.lines(batch.kept)
            write_scratch(self.path("output.jsonl"), "".join(lines))
            write_scratch(self.path("unwritable.jsonl"), json_lines(unwritable))
        write_scratch(self.path("rejected.jsonl"), json_lines(batch.rejected))
        write_scratch(self.path("stats.json"), json.dumps(stats, ensure_ascii=False))


@dataclass(frozen=True)
class StageFolder:
    path: Path

    def shard(self, index: int) -> Shard:
        return Shard(self.path, index)

    def shards(self, count: int) -> list[Shard]:
        return [Shard(self.path, i) for i in range(count)]

    @property
    def clusters(self) -> Path:
        return self.path / "clusters.jsonl"


class WorkFolder:
    """A run's work folder, opened afresh or for resuming (`open`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def open(cls, cfg: PrepareConfig) -> "WorkFolder":
        """The folder for `cfg`: kept when resuming the same work, else emptied; a folder that `data prepare`
        did not make is never deleted."""
        work = cfg.work_folder()
        mark = work / "fingerprint"
        want = fingerprint(cfg)
        if work.exists():
            same = mark.is_file() and mark.read_text().strip() == want
            if not (cfg.resume and same):
                if same or mark.is_file() or not any(work.iterdir()):
                    log.info("starting afresh in %s", work)
                    shutil.rmtree(work)
                else:
                    raise DataError(f"work_dir {work} exists but was not made by `data prepare`",
                                    "choose another work_dir, or delete the folder")
            else:
                log.info("resuming from %s", work)
        work.mkdir(parents=True, exist_ok=True)
        write_scratch(mark, want + "\n")
        return cls(work)

    def stage(self, index: int) -> StageFolder:
        folder = StageFolder(self.root / f"stage{index}")
        folder.path.mkdir(parents=True, exist_ok=True)
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def fingerprint(cfg: PrepareConfig) -> str:
    """What the work folder's shards depend on: steps, reading, sharding, and the inputs' identity."""
    h = hashlib.sha256()
    # The output format too: the last stage's shards hold lines of the output file (output.py).
    h.update(json.dumps({"steps": [o.model_dump(mode="json") for o in cfg.steps], "format": cfg.format,
                         "columns": cfg.columns, "strict": cfg.strict, "shard_size": cfg.shard_size, "output": cfg.output.format,
                         "changes": [cfg.output.changes, cfg.output.diffs],
                         "output_kind": Path(cfg.output.path).suffix.lower()}, sort_keys=True).encode())
    for path in cfg.inputs:
        st = Path(path).stat()
        h.update(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()
