"""`engine: local`: the record stages of `data prepare` in this process or a pool of worker processes.

Each shard goes to a worker as raw lines (or the path of the stage before's shard file): the worker
parses, runs the steps and saves the shard itself (`work.Shard.save`), and sends back only a count.
Sending Examples there and back cost more CPU than the steps did. Results are taken in input order
and at most 2 x workers shards are in flight, so a file larger than memory streams through.

`ray_engine.py` is the same contract on Ray Data: `run_record_stage(options, source, folder, plan, ...)`
returns (shards, shards reused from an earlier run).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterable

from tunesmith.prepare.stage import run_records
from tunesmith.prepare.steps import StepOptions
from tunesmith.prepare.work import SavePlan, Shard, StageFolder


def run_record_stage(options: list[StepOptions], source: Iterable, folder: StageFolder, plan: SavePlan,
                     workers: int, progress: bool, what: str, changes: bool = False) -> tuple[int, int]:
    """Run record steps shard by shard; returns (shards, shards reused from an earlier run)."""
    from tqdm import tqdm

    bar = tqdm(desc=f"prepare {what}", unit="rec", disable=not progress or not sys.stderr.isatty(),
               dynamic_ncols=True)
    n = resumed = 0
    pool = _pool(workers) if workers > 1 else None
    pending: list = []  # futures (or counts), in input order

    def drain(limit: int) -> None:
        while len(pending) > limit:
            job = pending.pop(0)
            bar.update(job.result() if pool is not None else job)

    try:
        for index, shard in enumerate(source):
            n += 1
            out = folder.shard(index)
            if out.done:
                resumed += 1
                bar.update(len(shard))
                continue
            if pool is not None:
                pending.append(pool.submit(run_shard, options, shard, out, plan, changes))
                drain(2 * workers)
            else:
                pending.append(run_shard(options, shard, out, plan, changes))
                drain(0)
        drain(0)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return n, resumed


def run_shard(options: list[StepOptions], source, out: Shard, plan: SavePlan, changes: bool = False) -> int:
    """One shard of a record stage, start to end (in a worker process): its records, the steps, the saved
    shard. Returns how many records it read."""
    items = source.items()
    out.save(run_records(options, items, changes), plan)
    return len(items)


def _pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing as mp

    # fork is quick, but not safe once torch has started its threads in this process.
    method = "spawn" if "torch" in sys.modules or sys.platform != "linux" else "fork"
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method), initializer=lean_gc_worker)


# ---------------------------------------------------------------------------------------------
# The garbage collector, and workers that end with their parent
# ---------------------------------------------------------------------------------------------

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
