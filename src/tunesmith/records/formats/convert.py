"""Convert a data file from one record format / file type to another, keeping every bad record.

Records that cannot be read (broken JSON, a missing `output`, wrong role order, non-UTF-8 text) or
cannot be written in the target format go to a rejects file with file:line and the reason; with
`skip_bad=False` the first one stops the conversion and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from tunesmith.records import formats
from tunesmith.records.formats import BadRecord, files
from tunesmith.errors import DataError

# The record format an output file type implies when --to is not given.
DEFAULT_TO = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".txt": "conversation"}


@dataclass
class ConvertResult:
    source_format: str
    to: str
    written: int = 0
    rejected: list[BadRecord] = field(default_factory=list)
    rejects_path: Path | None = None


def rejects_path_for(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejects.jsonl")


def convert(src, out, to: str | None = None, format: str = "auto", columns: dict | None = None,
            skip_bad: bool = False, encoding: str = "utf-8", rejects: str | Path | None = None,
            progress: bool = True) -> ConvertResult:
    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise DataError(f"the output {out} is the input file", "write to a new file")
    source_format = formats.detect(src, columns=columns, encoding=encoding) if format == "auto" else format
    to = to or DEFAULT_TO.get(out.suffix.lower()) or ("alpaca" if source_format == "csv" else source_format)
    result = ConvertResult(source_format, to)

    def good():
        items = formats.read(src, source_format, columns=columns, encoding=encoding)
        for item in tqdm(items, desc=f"convert {src.name}", unit=" rec", disable=not progress, leave=False):
            if not isinstance(item, BadRecord):
                why = formats.unwritable(item, to)
                if why is None:
                    yield item
                    continue
                item = BadRecord(str(src), item.meta.get("line", 0), f"cannot be written as {to}: {why}",
                                 _raw(item))
            if not skip_bad:
                raise DataError(f"{item.where()}: {item.reason}",
                                "fix the record, or pass --skip-bad to convert the rest and write the bad "
                                "records with their reasons to a rejects file")
            result.rejected.append(item)

    result.written = formats.write(good(), out, to=to)
    if result.rejected:
        result.rejects_path = Path(rejects) if rejects else rejects_path_for(out)
        files.write_rows((b.to_dict() for b in result.rejected), result.rejects_path, "jsonl")
    return result


def _raw(example) -> str:
    import json

    return json.dumps(example.to_dict(), ensure_ascii=False, default=str)


def parse_columns(text: str | None) -> dict | None:
    """`instruction=question,output=answer` -> {"instruction": "question", "output": "answer"}."""
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise DataError(f"--columns item '{part}' is not field=column",
                            "write it like --columns instruction=question,output=answer")
        mapping[ours.strip()] = theirs.strip()
    return mapping
