"""File types: stream raw records out of .json / .jsonl / .csv / .tsv / .parquet / .txt files, and write
rows back atomically. What a record *means* (alpaca, sharegpt, ...) is records.py's business.

Every raw record carries the line a person would open the file at (JSON arrays: the record's 1-based
index, since a minified array is one line; Parquet: the 1-based row), its raw text, and either the
parsed value or why it could not be parsed. Text that is not valid in the file's encoding never
stops the read: the record that holds it is reported with its line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from tunesmith.errors import DataError
from tunesmith.io import atomic_path

SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".txt": "txt"}
_SURROGATE = re.compile(r"[\udc80-\udcff]")


@dataclass
class Raw:
    line: int
    raw: str
    value: Any = None
    error: str | None = None
    unparsed: bool = False  # JSON text not parsed yet: see `parsed`


def kind(path: Path) -> str:
    k = SUFFIXES.get(path.suffix.lower())
    if k is None:
        raise DataError(f"{path}: unknown file type '{path.suffix}'",
                        f"use one of {', '.join(sorted(SUFFIXES))}")
    return k


def iter_raw(path: Path, encoding: str = "utf-8", parse: bool = True) -> Iterator[Raw]:
    """The raw records of `path`. `parse=False` leaves JSON Lines unparsed (`Raw.unparsed`) so that the
    parsing can happen elsewhere (`parsed(raw)` in a worker process); other file types parse as they read."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}", "check the path")
    k = kind(path)
    if k == "parquet":
        yield from _parquet(path)
        return
    if k == "jsonl":
        yield from _jsonl(path, encoding, parse)
        return
    text = _read_text(path, encoding)
    if k == "json":
        yield from _json(text)
    elif k == "csv":
        yield from _csv(text, "\t" if path.suffix.lower() == ".tsv" else ",")
    else:
        yield from _txt(text)


# ---------------------------------------------------------------------------------------------
# Encoding: undecodable bytes survive as surrogates, and the records holding them are reported.
# ---------------------------------------------------------------------------------------------

def _read_text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig") and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode(encoding, errors="surrogateescape")


def encoding_problem(raw: str, encoding: str = "utf-8") -> str | None:
    """Why `raw` is not clean text in `encoding` (None when it is), with a guess at the right one."""
    if not _SURROGATE.search(raw):
        return None
    data = raw.encode(encoding, errors="surrogateescape")
    for guess in ("gb18030", "big5", "latin-1"):
        try:
            data.decode(guess)
        except UnicodeDecodeError:
            continue
        name = "GBK/GB18030" if guess == "gb18030" else guess
        return (f"not {encoding} text (it decodes as {name}: convert the file, e.g. "
                f"iconv -f {guess} -t utf-8, or pass --encoding {guess})")
    return f"not {encoding} text"


def readable(raw: str) -> str:
    """Raw text with undecodable bytes shown as \\xNN, for reject files and messages."""
    return raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace") \
        if _SURROGATE.search(raw) else raw


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

def _jsonl(path: Path, encoding: str, parse: bool = True) -> Iterator[Raw]:
    with path.open("rb") as f:
        for n, data in enumerate(f, 1):
            if n == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            text = data.decode(encoding, errors="surrogateescape").rstrip("\r\n")
            if not text.strip():
                continue
            yield _json_value(n, text) if parse else Raw(n, text, unparsed=True)


def parsed(raw: Raw) -> Raw:
    """`raw` with its JSON parsed, when `iter_raw(parse=False)` left it unparsed."""
    return _json_value(raw.line, raw.raw) if raw.unparsed else raw


def _json_value(line: int, text: str) -> Raw:
    try:
        return Raw(line, text, json.loads(text))
    except json.JSONDecodeError as e:
        return Raw(line, text, error=f"invalid JSON: {e.msg} at column {e.colno}")


def _json(text: str) -> Iterator[Raw]:
    body = text.lstrip()
    if not body:
        return
    if not body.startswith("["):
        # A .json file that is really JSON Lines (or one object): read it line by line.
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            for n, line in enumerate(_lines(text), 1):
                if line.strip():
                    yield _json_value(n, line.rstrip("\r\n"))
            return
        if isinstance(value, dict):
            yield Raw(1, text, value)
        else:
            yield Raw(1, text[:200], error=f"the file holds a JSON {type(value).__name__}, not a list of records")
        return
    decoder = json.JSONDecoder()
    pos = len(text) - len(body) + 1
    index = 0
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            return
        index += 1
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            # Past a syntax error nothing is reliable: report the rest, from the bad record on, as one.
            yield Raw(index, text[pos:], error=f"invalid JSON at line {e.lineno}: {e.msg}; the rest of the "
                                               f"array (from record {index}, line {line}) cannot be read")
            return
        yield Raw(index, text[pos:end], value)
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            line = text.count("\n", 0, pos) + 1
            yield Raw(index + 1, text[pos:], error=f"invalid JSON at line {line}: expected ',' or ']' after "
                                                   f"record {index}; the rest of the array cannot be read")
            return


def _lines(text: str) -> list[str]:
    """Lines split at '\n' only (str.splitlines also splits at \u2028 and friends, which is content)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    return out + [parts[-1]] if parts[-1] else out


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _csv(text: str, delimiter: str) -> Iterator[Raw]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    # The same line splitting the csv module counts with, so that line numbers and raw text agree.
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    before = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Raw(before + 1, "".join(lines[before:]), error=f"broken CSV: {e}; the rest cannot be read")
            return
        start, before = before + 1, reader.line_num
        raw = "".join(lines[start - 1:before])
        if not row:
            continue  # a blank line; a row of empty cells is a record with empty fields
        if len(row) != len(header):
            yield Raw(start, raw, error=f"row has {len(row)} cells but the header has {len(header)} "
                                        f"({', '.join(header)})")
            continue
        yield Raw(start, raw, dict(zip(header, row)))


def _parquet(path: Path) -> Iterator[Raw]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    n = 0
    for batch in table.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            # Columns make every field exist in every row; an absent field reads as null.
            value = {k: v for k, v in row.items() if v is not None}
            yield Raw(n, _dumps(row), value)


def _txt(text: str) -> Iterator[Raw]:
    """Conversation text: each conversation starts on a line beginning with '<s>'."""
    start, chunk = 0, []
    for n, line in enumerate(_lines(text), 1):
        if line.startswith("<s>"):
            if chunk:
                yield _txt_record(start, chunk)
            start, chunk = n, [line]
        elif chunk:
            chunk.append(line)
        elif line.strip():
            yield Raw(n, line, error="text outside a conversation (a conversation starts with '<s>Human:')")
    if chunk:
        yield _txt_record(start, chunk)


def _txt_record(line: int, chunk: list[str]) -> Raw:
    text = "".join(chunk)
    # The line break that ends a conversation in the file is not part of it.
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    return Raw(line, text, {"text": text})


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------

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
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(jsonl_line(row))
            n += 1
    return n


def _write_json(rows, tmp: Path, path: Path) -> int:
    n = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
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
    with tmp.open("w", encoding="utf-8", newline="") as f:
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
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError(f"{path}: the records cannot share one Parquet schema ({e})",
                        "an extra field has different types in different records; write .jsonl instead") from None
    pq.write_table(table, tmp)
    return len(rows)


def _write_txt(rows, tmp: Path, path: Path) -> int:
    n = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
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
