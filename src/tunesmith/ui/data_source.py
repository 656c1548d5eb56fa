"""What the Data tab opens: a data file (every record, bad ones with their reason) or a `data prepare`
output folder (the kept records, rejected.jsonl and report.json), held in memory for browsing.

Both are read with the library's readers (`data.formats.read`, the prepare report as written), so
the UI shows what `tunesmith inspect` and `tunesmith data prepare` see. Opened sources and loaded
tokenizers are cached by path and modification time: paging and searching never re-read the file.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.records import formats
from tunesmith.records.example import Example
from tunesmith.records.formats import BadRecord
from tunesmith.ui.cache import Lru
from tunesmith.ui.errors import FieldError, blame
from tunesmith.ui.paths import confine, inside, name_or_path

PREVIEW_CHARS = 160
MAX_RECORDS = 200_000   # a browser view, not a pipeline: larger files are cut (and the cut is reported)


@dataclass
class Source:
    kind: str                                     # "file" or "prepare"
    path: Path
    records: list[Example | BadRecord] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)      # rows of rejected.jsonl (prepare folders)
    report: dict | None = None
    data_file: Path | None = None                 # the file the records came from
    cut: bool = False                             # more than MAX_RECORDS records: the rest were not read

    def summary(self) -> dict:
        bad = sum(isinstance(r, BadRecord) for r in self.records)
        return {"kind": self.kind, "path": str(self.path), "data_file": str(self.data_file) if self.data_file else None,
                "records": len(self.records) - bad, "bad": bad, "rejected": len(self.rejected), "cut": self.cut,
                "has_report": self.report is not None}


_sources = Lru(4)
_tokenizers = Lru(4)


def resolve(root: Path, path: str, field_name: str = "path") -> Path:
    if not path or not path.strip():
        raise FieldError(field_name, "give a path", "a data file (.jsonl, .json, .csv, .parquet, .txt) "
                                                    "or a `data prepare` output folder")
    return confine(root, path, field_name)


def open_source(root: Path, path: str) -> Source:
    p = resolve(root, path)
    if not p.exists():
        raise FieldError("path", f"{path} does not exist", f"paths are relative to {root}")
    stamp = max((f.stat().st_mtime_ns for f in ([p] + (list(p.iterdir()) if p.is_dir() else []))), default=0)
    return _sources.get_or_make((str(p.resolve()), stamp), lambda: _read_folder(p, root) if p.is_dir() else _read_file(p))


def _read_file(p: Path) -> Source:
    source = Source("file", p, data_file=p)
    with blame("path"):
        for item in formats.read(p):
            if len(source.records) >= MAX_RECORDS:
                source.cut = True
                break
            source.records.append(item)
    return source


def _read_folder(p: Path, root: Path) -> Source:
    report_path, rejected = p / "report.json", p / "rejected.jsonl"
    for f in (report_path, rejected):
        if f.exists() and not inside(root, f):
            raise FieldError("path", f"{f} is outside the ui root {root}", "a symlink points out of the root")
    if not report_path.is_file():
        from tunesmith.runs.folder import is_run

        hint = ("this is a run folder: open it in the Train tab" if is_run(p)
                else "open a data file, or the folder `data prepare` wrote report.json into")
        raise FieldError("path", f"{p} is a folder without report.json", hint)
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise FieldError("path", f"{report_path}: not a readable report ({e})", "run `data prepare` again") from None
    output = Path(report.get("output") or "")
    # The report names the output as `data prepare` was given it (maybe relative to another folder):
    # take it as written if it exists, else the file of that name next to the report.
    # A report may name a file outside the root (written elsewhere, or planted): that one is never read.
    data_file = root / output if (root / output).is_file() and inside(root, root / output) else p / output.name
    if not inside(root, data_file):
        raise FieldError("path", f"{data_file} is outside the ui root {root}", "a symlink points out of the root")
    source = _read_file(data_file) if output.name and data_file.is_file() else Source("file", p)
    source.kind, source.path, source.report = "prepare", p, report
    if rejected.is_file():
        with open(rejected, encoding="utf-8") as f:
            source.rejected = [json.loads(line) for line in f if line.strip()][:MAX_RECORDS]
    return source


# ---------------------------------------------------------------------------------------------
# Browsing
# ---------------------------------------------------------------------------------------------

def _text_of(item) -> str:
    if isinstance(item, BadRecord):
        return f"{item.reason} {item.raw}"
    return " ".join(item.texts(("all",)))


def _where(meta: dict) -> str:
    return f"{Path(str(meta['source'])).name}:{meta.get('line')}" if meta.get("source") else str(meta.get("id", ""))


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def page(source: Source, which: str = "records", query: str = "", offset: int = 0, limit: int = 50) -> dict:
    """Rows of `which` (records | rejected) whose text contains `query` (case-insensitive), paged."""
    q = query.strip().lower()
    rows = []
    if which == "rejected":
        items = source.rejected
        for i, row in enumerate(items):
            record = row.get("record") or {}
            text = " ".join(t.get("content", "") for t in record.get("turns", [])) or str(record.get("raw", ""))
            if q and q not in f"{row.get('step')} {row.get('reason')} {row.get('detail')} {text}".lower():
                continue
            rows.append({"index": i, "where": _where(record.get("meta") or {}), "preview": _preview(text),
                         "step": row.get("step"), "reason": row.get("reason"), "detail": row.get("detail")})
    elif which == "records":
        for i, item in enumerate(source.records):
            text = _text_of(item)
            if q and q not in text.lower():
                continue
            if isinstance(item, BadRecord):
                rows.append({"index": i, "where": f"{Path(item.source).name}:{item.line}", "bad": True,
                             "reason": item.reason, "preview": _preview(item.raw)})
            else:
                rows.append({"index": i, "where": _where(item.meta), "preview": _preview(text),
                             "turns": len(item.turns)})
    else:
        raise FieldError("which", f"unknown list '{which}'", "records or rejected")
    return {"total": len(rows), "offset": offset, "rows": rows[offset:offset + limit]}


def record(source: Source, which: str, index: int) -> Example | BadRecord:
    items = source.rejected if which == "rejected" else source.records
    if not 0 <= index < len(items):
        raise FieldError("index", f"no record {index} (the list has {len(items)})")
    item = items[index]
    if which == "rejected":
        rec = item.get("record") or {}
        if "turns" not in rec:  # unreadable input lines are kept raw in rejected.jsonl
            meta = rec.get("meta") or {}
            return BadRecord(str(meta.get("source", "")), int(meta.get("line") or 0), item.get("detail") or "",
                             str(rec.get("raw", "")))
        return Example.from_dict(rec)
    return item


# ---------------------------------------------------------------------------------------------
# Rendering with a template and tokenizer (the same calls as `tunesmith inspect`)
# ---------------------------------------------------------------------------------------------

def tokenizer(root: Path, spec: str):
    from tunesmith.evaluate.inspect import load_tokenizer_for

    if not spec or not spec.strip():
        raise FieldError("tokenizer", "choose a tokenizer", "a model or tokenizer folder, or an embedded name "
                                                            "such as smollm2")
    key = name_or_path(root, spec, "tokenizer")
    with blame("tokenizer"):
        return _tokenizers.get_or_make(key, lambda: load_tokenizer_for(key))


def render(example: Example, tok, template_name: str, max_seq_len: int, train_on: str, truncation: str,
           system: str | None) -> dict:
    from tunesmith.evaluate.inspect import segments
    from tunesmith.text.render import render as render_sample
    from tunesmith.text.templates import get_template

    with blame("template"):
        template = get_template(template_name, tok)
    if system and example.system is None:
        example = Example(example.turns, system, example.meta)
    with blame("max_seq_len"):
        rendered = render_sample(example, template, tok, max_seq_len=max_seq_len, train_on=train_on,
                                 truncation=truncation)
    return {"segments": [{"text": text, "trained": trained} for text, trained in segments(rendered, tok)],
            "tokens": len(rendered.input_ids), "trained": rendered.trained_tokens, "truncated": rendered.truncated,
            "turns_cut": rendered.turns_cut}


def inspect_command(path: str, template: str, tokenizer_spec: str, max_seq_len: int, train_on: str,
                    truncation: str, system: str | None) -> str:
    parts = ["tunesmith", "inspect", path, "--template", template, "--tokenizer", tokenizer_spec,
             "--max-seq-len", str(max_seq_len)]
    if train_on != "all":
        parts += ["--train-on", train_on]
    if truncation != "cut_oldest":
        parts += ["--truncation", truncation]
    if system:
        parts += ["--system", system]
    return shlex.join(parts)


def example_dict(item: Example | BadRecord) -> dict:
    if isinstance(item, BadRecord):
        return {"bad": True, "where": item.where(), "reason": item.reason, "raw": formats.files.readable(item.raw)}
    return {"bad": False, "where": _where(item.meta), **item.to_dict()}
