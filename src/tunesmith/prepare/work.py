"""The work folder of `data prepare`: shards as they travel and rest, resume, and the collector setting.

A stage's shards are `ReadShard`s (raw lines of the inputs, parsed by whoever runs them) or `KeptShard`s
(the kept records of the stage before, saved as JSON lines). A finished shard is saved with its stats
file written last (`save_shard`), so the presence of NNNNNN.stats.json means done, and a run started
again with the same `fingerprint` (config, inputs' sizes and modification times) skips it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tunesmith.records.example import Example
from tunesmith.records.formats.files import Raw
from tunesmith.prepare.config import PrepareConfig
from tunesmith.prepare.stage import BatchResult, json_lines, write_scratch
from tunesmith.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ReadShard:
    """Up to `shard_size` raw records of the inputs, turned into Examples by whoever runs the shard."""
    readers: list                      # formats.Reader per input file
    # (reader index, *the fields of a files.Raw*): plain tuples pickle for the workers ~10x faster than Raws
    raws: list = field(default_factory=list)
    first: int = 0                     # records before this shard (default ids are "#<position>")

    def add(self, which: int, raw: Raw) -> None:
        self.raws.append((which, raw.line, raw.raw, raw.value, raw.error, raw.unparsed))

    def __len__(self) -> int:
        return len(self.raws)

    def items(self) -> list:
        out = []
        for seq, (which, *fields) in enumerate(self.raws, self.first + 1):
            item = self.readers[which].example(Raw(*fields))
            if isinstance(item, Example) and not item.meta.get("id"):
                item.meta["id"] = f"#{seq}"
            out.append(item)
        return out


@dataclass
class KeptShard:
    """The kept records of one shard of the stage before."""
    folder: Path
    index: int

    def __len__(self) -> int:
        return json.loads((self.folder / f"{self.index:06d}.stats.json").read_text())["kept"]

    def items(self) -> list[Example]:
        return load_kept(self.folder, self.index)


def read_shards(cfg: PrepareConfig) -> Iterator[ReadShard]:
    """The inputs' raw records (JSON Lines unparsed: the workers parse), `shard_size` at a time."""
    from tunesmith.records import formats

    readers = [formats.reader(path, cfg.format, strict=cfg.strict) for path in cfg.inputs]
    shard = ReadShard(readers)
    for which, reader in enumerate(readers):
        for raw in reader.raws():
            shard.add(which, raw)
            if len(shard.raws) == cfg.shard_size:
                yield shard
                shard = ReadShard(readers, first=shard.first + len(shard.raws))
    if shard.raws:
        yield shard


def save_shard(folder: Path, index: int, batch: BatchResult) -> None:
    """Kept records, rejects, then the stats file: its presence marks the shard finished."""
    base = folder / f"{index:06d}"
    write_scratch(Path(f"{base}.kept.jsonl"), json_lines(e.to_dict() for e in batch.kept))
    write_scratch(Path(f"{base}.rejected.jsonl"), json_lines(batch.rejected))
    write_scratch(Path(f"{base}.stats.json"), json.dumps(batch.to_json(), ensure_ascii=False))


def load_kept(folder: Path, index: int) -> list[Example]:
    with open(folder / f"{index:06d}.kept.jsonl", encoding="utf-8") as f:
        return [Example.from_dict(json.loads(line)) for line in f]


def fingerprint(cfg: PrepareConfig) -> str:
    """What the work folder's shards depend on: steps, reading, sharding, and the inputs' identity."""
    h = hashlib.sha256()
    # The output format too: the last stage's shards hold lines of the output file (pipeline_output.py).
    h.update(json.dumps({"steps": [o.model_dump(mode="json") for o in cfg.steps], "format": cfg.format,
                         "strict": cfg.strict, "shard_size": cfg.shard_size, "output": cfg.output.format,
                         "changes": [cfg.output.changes, cfg.output.diffs],
                         "output_kind": Path(cfg.output.path).suffix.lower()}, sort_keys=True).encode())
    for path in cfg.inputs:
        st = Path(path).stat()
        h.update(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def open_work_dir(cfg: PrepareConfig) -> Path:
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
    return work


@contextmanager
def lean_gc():
    """Freeze what exists (modules, models, automata) out of the cycle collector's reach and let it run
    less often; undone afterwards. A shard makes ~100k short-lived objects and no cycles, and the default
    collector, walking again everything it saw before, took ~10-25% of the CPU of parsing a shard.
    The settings are the process's: runs in several threads share one change, undone by the last to end."""
    global _lean_depth, _saved_threshold
    with _lean_lock:
        if _lean_depth == 0:
            _saved_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(20_000, 20, 20)
        _lean_depth += 1
    try:
        yield
    finally:
        with _lean_lock:
            _lean_depth -= 1
            if _lean_depth == 0:
                gc.set_threshold(*_saved_threshold)
                gc.unfreeze()


_lean_lock = threading.Lock()
_lean_depth = 0
_saved_threshold = gc.get_threshold()


def lean_gc_worker() -> None:
    """The same for a worker process, for its whole life (it only ever runs shards); and the worker ends
    when its parent does, even a SIGKILLed one that could not shut the pool down (see `_watch_parent`)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    _watch_parent(os.getppid())


PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    """A daemon thread that exits this process once `parent` is gone (this process is re-parented).
    Not prctl(PR_SET_PDEATHSIG): that fires when the parent *thread* that started the worker ends, and
    the pool starts replacement workers from a thread of its own."""
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="tunesmith-parent-watch", daemon=True).start()
