"""`engine: ray`: the record stages of `data prepare` on Ray Data, with the local engine's output.

The runner (`pipeline.py`) stays the one place that plans stages, resumes, runs whole-set steps
(dedup) and writes outputs; only the record stages change hands, as with `local_engine.py` (the same
`run_record_stage` contract). Each shard of records becomes one row of a Ray Dataset; `map_batches`
applies the runner's own per-shard function (`stage.run_records`) to it on a Ray worker, and the
results come back in input order (`preserve_order`) to be saved exactly as the local engine saves them
(`work.Shard.save`). Same shards, same function, same order: the same kept records, rejects and report.
Whole-set steps stay in the runner, but it builds them with `map=ray_map`, so near-dup's batch signing
(MinHash over shingles, the heavy part) and semantic dedup's embedding run as Ray tasks.

Shards travel as pickled bytes (Examples and BadRecords are plain dataclasses), a window of them at
a time so an input larger than memory still streams. Ray is started on this machine with
`ray_cpus` CPUs unless one is running already or RAY_ADDRESS names a cluster.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from itertools import islice
from typing import Callable, Iterable

from tunesmith.errors import ConfigError
from tunesmith.prepare.work import SavePlan, StageFolder

log = logging.getLogger(__name__)


def ray_map(fn: Callable, arg_tuples: list[tuple]) -> Iterable:
    """`fn(*args)` for each args as Ray tasks, results in input order: how whole-set steps (near-dup
    signing) put their heavy, independent batches on the cluster while the set logic stays here."""
    ray = ensure_ray()
    task = ray.remote(fn)
    refs = [task.remote(*args) for args in arg_tuples]
    for ref in refs:
        yield ray.get(ref)


def ensure_ray(num_cpus: int | None = None):
    """Import Ray and start (or join) it; a missing Ray is a ConfigError with the install line."""
    try:
        import ray
    except ImportError:
        raise ConfigError("engine: ray needs Ray Data", "pip install 'tunesmith[ray]'  (or set engine: local)") from None
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if not os.environ.get("RAY_ADDRESS"):
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
        ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def _apply(options, changes: bool = False):
    """The map_batches function: one shard per row, through the runner's record-stage function."""
    def run(batch: dict) -> dict:
        from tunesmith.prepare.stage import run_records
        from tunesmith.errors import TunesmithError

        results = []
        for p in batch["payload"]:
            try:
                results.append(pickle.dumps(run_records(options, pickle.loads(bytes(p)), changes), protocol=5))
            except TunesmithError as e:  # a step's ConfigError (meta on a text field): the driver raises it whole
                results.append(pickle.dumps(e, protocol=5))
        return {"shard": batch["shard"], "result": _objects(results)}
    return run


def _objects(items: list):
    import numpy as np

    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def run_record_stage(stage_options: list, source: Iterable, folder: StageFolder, plan: SavePlan, num_cpus: int,
                     progress: bool = False, what: str = "", changes: bool = False,
                     window: int | None = None) -> tuple[int, int]:
    """Run record steps over `source` shards (ReadShard / KeptShard) on Ray and save each, in order (with
    `changes`, each BatchResult carries what the steps changed, as locally). Returns (shards, shards
    reused from an earlier run), like the local engine."""
    from tqdm import tqdm

    ray = ensure_ray(num_cpus)
    window = window or max(4, 4 * num_cpus)
    shards = resumed = 0
    bar = tqdm(desc=f"prepare {what} (ray)", unit="shard", disable=not progress or not sys.stderr.isatty())
    it = iter(source)
    while chunk := list(islice(it, window)):
        todo = []
        for shard in chunk:
            index = shards
            shards += 1
            if folder.shard(index).done:
                resumed += 1
                continue
            todo.append({"shard": index, "payload": pickle.dumps(shard.items(), protocol=5)})
        if todo:
            ds = ray.data.from_items(todo).map_batches(_apply(stage_options, changes), batch_size=1, batch_format="numpy")
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            for row in ds.iter_rows():
                result = pickle.loads(row["result"])
                if isinstance(result, Exception):
                    raise result
                folder.shard(int(row["shard"])).save(result, plan)
                bar.update(1)
    bar.close()
    return shards, resumed
