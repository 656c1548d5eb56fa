"""The Train tab's API: the form schema, validation + estimate as you type, launch, the runs list,
one run's live metrics, stop and resume."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tunesmith.config import to_yaml
from tunesmith.io import atomic_write_text
from tunesmith.ui import estimate_view, train_form
from tunesmith.ui.errors import FieldError
from tunesmith.ui.paths import confine
from tunesmith.ui.train_jobs import Jobs

router = APIRouter(prefix="/api/train")


class FormRequest(BaseModel):
    values: dict[str, str]
    device: str = "cpu"
    memory: str | None = None
    estimate: bool = True
    overwrite: bool = False


class RunRequest(BaseModel):
    dir: str


def _root(request: Request) -> Path:
    return request.app.state.root


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def _run_dir(request: Request, path: str) -> Path:
    if not path.strip():
        raise FieldError("run", "no run chosen")
    run_dir = confine(_root(request), path, "run")
    if run_dir == _root(request).resolve():
        raise FieldError("run", "the ui root itself is no run folder")
    return run_dir


@router.get("/schema")
def schema(request: Request) -> dict:
    import torch

    runs = request.app.state.runs_dir
    taken = {p.name for p in runs.glob("*")} if runs.is_dir() else set()
    n = next(i for i in range(1, 10_000) if f"run-{i}" not in taken and f"run-{i}.yaml" not in taken)
    rel = runs.relative_to(_root(request)) if runs.is_relative_to(_root(request)) else runs
    return {**train_form.form_schema(), "device": "cuda" if torch.cuda.is_available() else "cpu",
            "suggested_output_dir": str(rel / f"run-{n}")}


@router.post("/validate")
async def validate(request: Request, body: FormRequest) -> dict:
    return await run_in_threadpool(_validate, _root(request), body)


def _validate(root: Path, body: FormRequest) -> dict:
    cfg, errors = train_form.build(body.values)
    if cfg is None:
        return {"ok": False, "errors": errors, "warnings": {}}
    errors, warnings = train_form.check(cfg, root)
    out = {"ok": not errors, "errors": errors, "warnings": warnings, "yaml": to_yaml(cfg, comments=False),
           "command": train_form.train_command(cfg),
           "config_path": str(train_form.config_path(cfg, root).relative_to(root))
           if train_form.config_path(cfg, root).is_relative_to(root) else str(train_form.config_path(cfg, root))}
    if body.estimate and "model.path" not in errors:
        out["estimate"] = estimate_view.estimate(cfg, root, body.device, body.memory or None)
        # Building the method is where PEFT-level settings fail (adalora's target_r above r, an unknown
        # target module): the same error `train` would stop on, so it marks the field too.
        field = train_form.field_named_in(out["estimate"].get("error") or "")
        if field and field not in errors:
            errors[field] = out["estimate"]["error"]
            out["ok"] = False
    return out


@router.post("/launch")
async def launch(request: Request, body: FormRequest) -> dict:
    root = _root(request)
    cfg, errors = train_form.build(body.values)
    if cfg is not None:
        errors, warnings = await run_in_threadpool(train_form.check, cfg, root)
        if "output_dir" in warnings and not body.overwrite:
            errors["output_dir"] = warnings["output_dir"]
    if errors:
        key = next(iter(errors))
        raise FieldError(key, f"{key}: {errors[key]}", "fix the fields marked in red")
    config = train_form.config_path(cfg, root)
    run_dir = config.with_name(config.name[:-len(".yaml")])
    train_form.refuse_foreign_files(run_dir)  # never overwrite a file that is not a run's
    config.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config, to_yaml(cfg))  # commented, as --print-config shows it: a file worth keeping
    argv = _jobs(request).launch(run_dir, config, overwrite=body.overwrite)
    return {"dir": _jobs(request).name(run_dir), "command": " ".join(argv)}


@router.get("/runs")
def runs(request: Request) -> dict:
    jobs = _jobs(request)
    return {"runs": [jobs.summary(p) for p in jobs.runs(request.app.state.runs_dir)]}


@router.get("/run")
def run(request: Request, dir: str, since: int = 0) -> dict:
    run_dir = _run_dir(request, dir)
    if not run_dir.exists() and not (run_dir.with_name(run_dir.name + ".ui.json")).exists():
        raise FieldError("run", f"no run at {dir}")
    return _jobs(request).detail(run_dir, max(since, 0))


@router.post("/stop")
def stop(request: Request, body: RunRequest) -> dict:
    pid = _jobs(request).stop(_run_dir(request, body.dir))
    return {"stopped": pid, "command": f"kill -INT {pid}"}


@router.post("/resume")
def resume(request: Request, body: RunRequest) -> dict:
    run_dir = _run_dir(request, body.dir)
    config = run_dir / "config.yaml"
    if config.is_file():  # first: a config planted in the folder is held to the form's rules, resumable or not
        train_form.check_saved_config(config, _root(request))
    refused = _jobs(request).why_not_resumable(run_dir)
    if refused:
        raise FieldError("run", *refused)
    argv = _jobs(request).launch(run_dir, config, resume=True)
    return {"dir": body.dir, "command": " ".join(argv)}
