"""The Data tab's API: open a data file or a `data prepare` folder, page and search its records,
render one with a template and tokenizer (trained tokens vs masked), and return the prepare report.

The rendering settings start at `TemplateConfig`'s defaults (`/api/data/defaults`, which the page
fills its form from), the ones `tunesmith train` and `tunesmith inspect` use: what the page shows
first is what a run left at its defaults trains on.
"""

from __future__ import annotations

import shlex
import typing
from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tunesmith.runs.config import TemplateConfig

from tunesmith.ui import data_source
from tunesmith.ui.errors import FieldError
from tunesmith.ui.paths import inside

router = APIRouter(prefix="/api/data")

DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".txt"}
SKIP_FILES = {"rejected.jsonl", "metrics.jsonl", "report.json", "manifest.json", "clusters.jsonl"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".prepare-work", "checkpoints",
             "adapter", "model", "tokenizer", "tb"}


TEMPLATE_DEFAULTS = TemplateConfig()


class RenderRequest(BaseModel):
    path: str
    which: str = "records"
    index: int
    template: str = TEMPLATE_DEFAULTS.name
    tokenizer: str = ""
    max_seq_len: int = Field(TEMPLATE_DEFAULTS.max_seq_len, gt=8)
    train_on: str = TEMPLATE_DEFAULTS.train_on
    truncation: str = TEMPLATE_DEFAULTS.truncation
    system: str | None = None


def _root(request: Request) -> Path:
    return request.app.state.root


def _shown(root: Path, path: Path) -> str:
    """A path as the user would type it: relative to the root when it is inside it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _choices(field: str) -> list[str]:
    return list(typing.get_args(TemplateConfig.model_fields[field].annotation))


@router.get("/defaults")
def defaults() -> dict:
    """The rendering form's choices and starting values: TemplateConfig's, as a run config has them."""
    return {"values": TEMPLATE_DEFAULTS.model_dump(include={"name", "max_seq_len", "train_on", "truncation"}),
            "choices": {field: _choices(field) for field in ("name", "train_on", "truncation")}}


@router.get("/suggest")
def suggest(request: Request) -> dict:
    """Data files and prepare folders under the root (a few levels deep), for the path box."""
    root = _root(request)
    found: list[str] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        if folder != root and ((folder / "config.json").is_file() or (folder / "config.yaml").is_file()):
            return  # a model or run folder: its JSON files are not data
        if (folder / "report.json").is_file() and folder != root:
            found.append(str(folder.relative_to(root)) + "/")
        for p in entries:
            if len(found) >= 200:
                return
            if p.is_symlink() and not inside(root, p):
                continue  # a link out of the root: not even its name is shown
            if p.is_dir() and depth < 4 and p.name not in SKIP_DIRS and not p.name.startswith("."):
                walk(p, depth + 1)
            elif p.is_file() and p.suffix.lower() in DATA_SUFFIXES and p.name not in SKIP_FILES:
                found.append(str(p.relative_to(root)))

    walk(root, 0)
    return {"root": str(root), "paths": found}


@router.get("/open")
async def open_data(request: Request, path: str) -> dict:
    source = await run_in_threadpool(data_source.open_source, _root(request), path)
    out = source.summary()
    out["data_file"] = _shown(_root(request), source.data_file) if source.data_file else None
    if source.kind == "prepare":
        config = "pipeline.yaml"
        out["command"] = f"tunesmith data prepare {config}  # the config is in the report below"
    else:
        out["command"] = shlex.join(["tunesmith", "inspect", path, "--template", TEMPLATE_DEFAULTS.name,
                                     "--tokenizer", "MODEL"])
    return out


@router.get("/records")
async def records(request: Request, path: str, which: str = "records", q: str = "", offset: int = 0,
                  limit: int = 50) -> dict:
    source = await run_in_threadpool(data_source.open_source, _root(request), path)
    return data_source.page(source, which, q, max(offset, 0), min(max(limit, 1), 500))


@router.get("/record")
async def record(request: Request, path: str, index: int, which: str = "records") -> dict:
    source = await run_in_threadpool(data_source.open_source, _root(request), path)
    return data_source.example_dict(data_source.record(source, which, index))


@router.post("/render")
async def render(request: Request, body: RenderRequest) -> dict:
    return await run_in_threadpool(_render, _root(request), body)


def _render(root: Path, body: RenderRequest) -> dict:
    from tunesmith.records.formats import BadRecord

    source = data_source.open_source(root, body.path)
    item = data_source.record(source, body.which, body.index)
    if isinstance(item, BadRecord):
        raise FieldError("index", f"{item.where()} could not be read: {item.reason}",
                         "a bad record has nothing to render; fix it in the file")
    tok = data_source.tokenizer(root, body.tokenizer)
    out = data_source.render(item, tok, body.template, body.max_seq_len, body.train_on, body.truncation,
                             body.system or None)
    data_path = _shown(root, source.data_file) if source.kind == "prepare" and source.data_file else body.path
    out["command"] = data_source.inspect_command(data_path, body.template, body.tokenizer, body.max_seq_len,
                                                 body.train_on, body.truncation, body.system or None)
    return out


@router.get("/report")
async def report(request: Request, path: str) -> dict:
    source = await run_in_threadpool(data_source.open_source, _root(request), path)
    if source.report is None:
        raise FieldError("path", f"{path} is a data file, not a `data prepare` folder: it has no report",
                         "run `tunesmith data prepare pipeline.yaml` and open its output folder")
    return source.report
