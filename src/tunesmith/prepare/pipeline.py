"""`prepare(config)`: read the inputs, run the steps, write kept records, rejects and a report.

The steps split into stages: a run of record steps streams shard by shard (over worker processes,
results taken back in input order so the output is the same for any number of workers); a whole-set
step (dedup) waits for every shard of the stage before it and sees all survivors at once. The main
process only reads raw lines: the workers parse them, run the steps and save their shards, and the
last stage's workers write the output file's lines too (output.py). Record stages run on an engine,
`local_engine.py` (worker processes) or `ray_engine.py` (Ray Data), with one contract. Next to the
report go changes.jsonl and flagged.jsonl, what each step changed and flagged, for review (review.py).

Every finished shard is saved under the work folder (kept records, rejects, stats) with its done
marker written last, so an interrupted run started again with the same config and inputs skips the
finished shards and ends with the same output. A fingerprint of the config and the inputs' sizes and
modification times guards against resuming someone else's work (work.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tunesmith.errors import ConfigError, DataError
from tunesmith.io import atomic_path, atomic_write_text
from tunesmith.prepare import local_engine
from tunesmith.prepare.config import PrepareConfig, load_config
from tunesmith.prepare.local_engine import lean_gc
from tunesmith.prepare.output import direct_output, gather
from tunesmith.prepare.review import gather_review
from tunesmith.prepare.shards import KeptShard, read_shards
from tunesmith.prepare.stage import BatchResult, rejected_row, stage_for, step_labels, unwritable_row
from tunesmith.prepare.steps import STEPS, Drop, SetStep, StepOptions, StepStats, build
from tunesmith.prepare.work import SavePlan, Shard, StageFolder, WorkFolder
from tunesmith.records.example import Example

log = logging.getLogger(__name__)


@dataclass
class Stage:
    kind: str                      # "records" or "set"
    options: list[StepOptions]     # one item for a set stage
    labels: list[str]


@dataclass
class PrepareResult:
    read: int = 0                  # records read (bad ones included)
    kept: int = 0
    rejected: int = 0
    output: Path | None = None
    rejected_path: Path | None = None
    changes_path: Path | None = None     # None when output.changes is off
    flagged_path: Path | None = None
    changes: int = 0                     # rows of changes.jsonl: (step, record) pairs whose texts changed
    report_json: Path | None = None
    report_html: Path | None = None
    seconds: float = 0.0
    resumed_shards: int = 0
    steps: dict[str, dict] = field(default_factory=dict)   # label -> StepStats.to_dict()
    drops: dict[str, int] = field(default_factory=dict)    # "step/reason" -> count
    flags: dict[str, int] = field(default_factory=dict)    # "step/reason" -> kept records flagged
    flagged: int = 0                                       # kept records with any flag


def plan(options: list[StepOptions]) -> list[Stage]:
    """Group steps into stages: consecutive record steps together, each whole-set step alone."""
    labels = step_labels(options)
    stages: list[Stage] = []
    for opt, label in zip(options, labels):
        if issubclass(STEPS[opt.step], SetStep):
            stages.append(Stage("set", [opt], [label]))
        elif stages and stages[-1].kind == "records":
            stages[-1].options.append(opt)
            stages[-1].labels.append(label)
        else:
            stages.append(Stage("records", [opt], [label]))
    if not stages or stages[0].kind != "records":
        stages.insert(0, Stage("records", [], []))  # stage 0 always reads (and rejects unreadable records)
    return stages


def prepare(config: PrepareConfig | str | Path, overrides: list[str] | tuple = (), progress: bool = True
            ) -> PrepareResult:
    """Run the pipeline described by `config` (a PrepareConfig or a YAML path, plus dotted overrides)."""
    from tunesmith.prepare import report

    cfg = config if isinstance(config, PrepareConfig) else load_config(config, overrides)
    if isinstance(config, PrepareConfig) and overrides:
        from tunesmith.config import apply_overrides, validate

        cfg = validate(PrepareConfig, apply_overrides(cfg.model_dump(mode="json"), overrides), "overrides")
    _check_inputs(cfg)
    started = time.time()
    stages = plan(list(cfg.steps))
    for stage in stages:  # build here so a bad option (a missing model) fails before any work;
        if stage.kind == "records" and stage.options:  # cached: a 1-worker run (or forked workers) reuse it
            _try_build(lambda: stage_for(stage.options), stage.options)
    builder = report.ReportBuilder(cfg, [label for s in stages for label in s.labels])
    direct = direct_output(cfg, stages[-1].kind == "records", builder.has_language_step)
    work = WorkFolder.open(cfg)
    result = PrepareResult()
    with lean_gc():
        shards, result.resumed_shards = _run_stages(cfg, stages, work, direct, progress)
    # Gather: stats, rejects, and the kept records of the last stage into the output file.
    for index, stage_shards in enumerate(shards):
        for shard in stage_shards:
            builder.add_shard(shard.stats(), first_stage=index == 0)
    every = [shard for stage_shards in shards for shard in stage_shards]  # in stage, then shard order
    out_dir = cfg.report_folder()
    out_dir.mkdir(parents=True, exist_ok=True)
    _gather_clusters([work.stage(i).clusters for i in range(len(stages))], out_dir / "clusters.jsonl")
    write_rejects: list[dict] = []
    result.output = Path(cfg.output.path)
    Path(cfg.output.path).parent.mkdir(parents=True, exist_ok=True)
    if direct is not None:  # the workers wrote the output lines: join them
        result.kept, write_rejects = gather(result.output, shards[-1], builder)
    else:
        result.kept = _write_output(cfg, (e for shard in shards[-1] for e in shard.kept()), write_rejects, builder)
    result.rejected_path = out_dir / "rejected.jsonl"
    result.rejected = _write_rejected(result.rejected_path, [s.path("rejected.jsonl") for s in every],
                                      write_rejects, builder)
    result.changes, _ = gather_review(every, out_dir, cfg.output.changes)
    result.changes_path = out_dir / "changes.jsonl" if cfg.output.changes else None
    result.flagged_path = out_dir / "flagged.jsonl"
    result.seconds = time.time() - started
    summary = builder.finish(result)
    result.read = summary["counts"]["read"]
    result.steps = summary["steps"]
    result.drops = {f"{d['step']}/{d['reason']}": d["count"] for d in summary["drops"]}
    result.flags = {f"{d['step']}/{d['reason']}": d["kept"] for d in summary["flags"] if d["kept"]}
    result.flagged = summary["counts"]["flagged"]
    result.report_json = out_dir / "report.json"
    result.report_html = out_dir / "report.html"
    _atomic_write(result.report_json, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    from tunesmith.prepare.report_html import render

    _atomic_write(result.report_html, render(summary))
    if not cfg.keep_work:
        work.remove()
    return result


# ---------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------

def _run_stages(cfg: PrepareConfig, stages: list[Stage], work: WorkFolder, direct, progress: bool
                ) -> tuple[list[list[Shard]], int]:
    """Every stage in order, each reading the shards the one before saved. Returns (the shards of each
    stage, shards reused from an interrupted run)."""
    shards: list[list[Shard]] = []
    resumed_total = 0
    for index, stage in enumerate(stages):
        folder = work.stage(index)
        source = read_shards(cfg) if index == 0 else (KeptShard(shard) for shard in shards[-1])
        if stage.kind == "records":  # its changes and flags are saved with each shard
            last = index == len(stages) - 1
            plan = SavePlan(review=True, diffs=cfg.output.diffs, output=direct if last else None)
            engine = local_engine
            if cfg.engine == "ray" and stage.options:
                from tunesmith.prepare import ray_engine as engine
            n, resumed = engine.run_record_stage(stage.options, source, folder, plan, cfg.workers, progress,
                                                 f"stage {index + 1}/{len(stages)}", changes=cfg.output.changes)
        else:
            n, resumed = _run_set_stage(stage, shards[-1], folder, cfg.engine)
        shards.append(folder.shards(n))
        resumed_total += resumed
    return shards, resumed_total


def _run_set_stage(stage: Stage, previous: list[Shard], folder: StageFolder, engine: str) -> tuple[int, int]:
    """A whole-set step: every survivor at once; decisions written back per shard of the stage before."""
    if all(shard.done for shard in folder.shards(len(previous))):
        return len(previous), len(previous)
    label = stage.labels[0]
    if engine == "ray":
        from tunesmith.prepare import ray_engine

        step = build(stage.options[0], map=ray_engine.ray_map)
    else:
        step = build(stage.options[0])
    per_shard = [shard.kept() for shard in previous]
    everything = [e for part in per_shard for e in part]
    decisions = step(everything) if everything else []
    if len(decisions) != len(everything):
        raise DataError(f"step '{label}' returned {len(decisions)} decisions for {len(everything)} records")
    audit = step.audit()  # dedup: every cluster, its kept record and similarities
    if audit is not None:
        _atomic_write(folder.clusters, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in audit))
    at = 0
    for i, part in enumerate(per_shard):
        kept, rejected, stats = [], [], StepStats()
        for example in part:
            decision = decisions[at]
            at += 1
            stats.seen += 1
            if isinstance(decision, Drop):
                stats.dropped[decision.reason] += 1
                rejected.append(rejected_row(label, decision, example.to_dict()))
            else:
                stats.kept += 1
                kept.append(example)
        if i == 0:  # set-wide tallies (clusters, ...) are reported once
            stats.counts.update(step.stats.counts)
        folder.shard(i).save(BatchResult(kept, rejected, {label: stats}))
    return len(previous), 0


# ---------------------------------------------------------------------------------------------
# Input, workers, output
# ---------------------------------------------------------------------------------------------

def _check_inputs(cfg: PrepareConfig) -> None:
    if not cfg.inputs:
        raise ConfigError("no inputs: 'inputs' is empty", "list the data files: inputs: [raw.jsonl]")
    for path in cfg.inputs:
        if not Path(path).is_file():
            raise DataError(f"input file not found: {path}", "check 'inputs' in the pipeline config")


def _try_build(make, options: list[StepOptions]) -> None:
    from tunesmith.errors import TunesmithError

    try:
        make()
    except TunesmithError:
        raise
    except (OSError, ValueError, ImportError) as e:
        names = ", ".join(o.step for o in options)
        raise ConfigError(f"the steps ({names}) cannot start: {type(e).__name__}: {e}",
                          "check the steps' options (model paths, lexicon files)") from None


def _write_output(cfg: PrepareConfig, examples: Iterable[Example], rejects: list[dict], builder) -> int:
    """Write the kept records; a record the output format cannot hold becomes a `write` reject."""
    from tunesmith.records import formats

    def writable():
        for example in examples:
            reject = unwritable_row(example, cfg.output.format)
            if reject is not None:
                rejects.append(reject)
                continue
            builder.add_kept(example)
            yield example

    return formats.write(writable(), cfg.output.path, to=cfg.output.format)


def _write_rejected(path: Path, files: list[Path], extra: list[dict], builder) -> int:
    n = 0
    # backslashreplace: a lone surrogate in a row becomes its JSON escape, not a crash (formats.writers)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", errors="backslashreplace") as out:
        for f in files:
            with open(f, encoding="utf-8") as src:
                for line in src:
                    builder.add_rejected(json.loads(line))
                    out.write(line)
                    n += 1
        for row in extra:
            builder.add_rejected(row)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _gather_clusters(files: list[Path], path: Path) -> None:
    """The dedup steps' cluster audits, one file for the run (none when no step wrote one)."""
    found = [f for f in files if f.is_file()]
    if found:
        _atomic_write(path, "".join(f.read_text(encoding="utf-8") for f in found))


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text)  # the run's outputs are flushed to disk; work files use write_scratch


def count_drops(rows: Iterable[dict]) -> Counter:
    return Counter(f"{r['step']}/{r['reason']}" for r in rows)
