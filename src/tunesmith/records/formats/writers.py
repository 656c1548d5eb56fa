"""Write rows of one file type (.json / .jsonl / .csv / .tsv / .parquet / .txt) atomically.

A reader sees the old file or the new one (io.atomic_path). No value makes a write fail half way for
want of an encoding: what UTF-8 cannot hold is escaped (UNENCODABLE).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from tunesmith.errors import DataError
from tunesmith.io import atomic_path

# What UTF-8 cannot hold (a lone surrogate: the reader rejects records with one, but a step or a caller
# could still make one) is written as a \\uXXXX escape instead of failing the whole write. Inside JSON
# text that is exactly the JSON escape of the character, so reading the file back gives the same string.
UNENCODABLE = "backslashreplace"


def write_rows(rows: Iterable[dict], path: Path, k: str) -> int:
    """Write `rows` as file type `k` to `path` atomically; returns the count."""
    with atomic_path(path) as tmp:
        return _WRITERS[k](rows, tmp, path)


# One encoder for every row: json.dumps with any non-default option builds a new encoder per call.
_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode


def jsonl_line(row: dict) -> str:
    return _dumps(row) + "\n"


def _write_jsonl(rows, tmp: Path, path: Path) -> int:
    n = 0
    with tmp.open("w", encoding="utf-8", errors=UNENCODABLE, newline="\n") as f:
        for row in rows:
            f.write(jsonl_line(row))
            n += 1
    return n


def _write_json(rows, tmp: Path, path: Path) -> int:
    n = 0
    with tmp.open("w", encoding="utf-8", errors=UNENCODABLE, newline="\n") as f:
        f.write("[")
        for row in rows:
            f.write(("," if n else "") + "\n  " + _dumps(row))
            n += 1
        f.write("\n]\n")
    return n


def _write_csv(rows, tmp: Path, path: Path) -> int:
    rows = list(rows)  # the header is the union of every row's fields
    header: dict = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    with tmp.open("w", encoding="utf-8", errors=UNENCODABLE, newline="") as f:
        writer = csv.writer(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(row.get(k)) for k in header])
    return len(rows)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return _dumps(value)
    return str(value)


def _write_parquet(rows, tmp: Path, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(rows)
    # from_pylist takes its columns from the first row alone: give every row every field.
    names: dict = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    rows = [{k: row.get(k) for k in names} for row in rows]
    try:
        try:
            table = pa.Table.from_pylist(rows)
        except UnicodeEncodeError:  # Arrow strings are UTF-8: escape what it cannot hold (see UNENCODABLE)
            table = pa.Table.from_pylist([_escaped(row) for row in rows])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError(f"{path}: the records cannot share one Parquet schema ({e})",
                        "an extra field has different types in different records; write .jsonl instead") from None
    pq.write_table(table, tmp)
    return len(rows)


def _escaped(value):
    """`value` with every string UTF-8 can hold: lone surrogates become \\uXXXX text."""
    if isinstance(value, str):
        return value.encode("utf-8", UNENCODABLE).decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _write_txt(rows, tmp: Path, path: Path) -> int:
    n = 0
    with tmp.open("w", encoding="utf-8", errors=UNENCODABLE, newline="\n") as f:
        for row in rows:
            if set(row) != {"text"}:
                extra = sorted(set(row) - {"text"})
                raise DataError(f"{path}: a .txt file holds only the conversation text; a record has extra "
                                f"fields {extra}", "write .jsonl or .csv to keep them")
            f.write(row["text"] + "\n")
            n += 1
    return n


_WRITERS = {"jsonl": _write_jsonl, "json": _write_json, "csv": _write_csv, "parquet": _write_parquet,
            "txt": _write_txt}
