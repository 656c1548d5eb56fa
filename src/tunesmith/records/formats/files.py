"""File types: stream raw records out of .json / .jsonl / .csv / .tsv / .parquet / .txt files (writing
rows back is writers.py's). What a record *means* (alpaca, sharegpt, ...) is records.py's business.

Every raw record carries the line a person would open the file at (JSON arrays: the record's 1-based
index, since a minified array is one line; Parquet: the 1-based row), its raw text, and either the
parsed value or why it could not be parsed. Text that is not valid in the file's encoding never
stops the read: the record that holds it is reported with its line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tunesmith.records.formats.checks import TOO_DEEP, readable, too_deep  # noqa: F401 (files.readable: callers use it)
from tunesmith.records.formats.writers import _dumps, jsonl_line, write_rows  # noqa: F401 (files.write_rows too)
from tunesmith.errors import DataError

SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".txt": "txt"}


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
# Encoding: undecodable bytes survive as surrogates, and the records holding them are reported
# (checks.encoding_problem).
# ---------------------------------------------------------------------------------------------

def _read_text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig") and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode(encoding, errors="surrogateescape")


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

# One JSON Lines record may be at most this many bytes (TUNESMITH_MAX_RECORD_BYTES sets it): a longer line
# is a reject with its file:line, skipped without being held in memory (one 200 MB line, parsed, peaked
# at 8.3 GB). No instruction record comes near 64 MiB.
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024


def max_record_bytes() -> int:
    value = os.environ.get("TUNESMITH_MAX_RECORD_BYTES", "").strip()
    if not value:
        return DEFAULT_MAX_RECORD_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise DataError(f"TUNESMITH_MAX_RECORD_BYTES={value!r} is not a positive number of bytes",
                        "unset it for the default (64 MiB), or give e.g. 268435456")
    return limit


def _jsonl(path: Path, encoding: str, parse: bool = True) -> Iterator[Raw]:
    limit = max_record_bytes()
    with path.open("rb") as f:
        n = 0
        while data := f.readline(limit + 1):
            n += 1
            if len(data) > limit and not data.endswith(b"\n"):
                size = len(data) + _skip_line(f)
                head = data[:200].decode(encoding, errors="surrogateescape")
                yield Raw(n, head, error=f"a line of {size:,} bytes, over the record size limit of {limit:,} bytes "
                                         "(TUNESMITH_MAX_RECORD_BYTES raises it): not read")
                continue
            if n == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            text = data.decode(encoding, errors="surrogateescape").rstrip("\r\n")
            if not text.strip():
                continue
            yield _json_value(n, text) if parse else Raw(n, text, unparsed=True)


def _skip_line(f) -> int:
    """Read past the rest of the current line a piece at a time; returns the bytes skipped."""
    skipped = 0
    while piece := f.readline(1 << 20):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def parsed(raw: Raw) -> Raw:
    """`raw` with its JSON parsed, when `iter_raw(parse=False)` left it unparsed."""
    return _json_value(raw.line, raw.raw) if raw.unparsed else raw


def _json_value(line: int, text: str) -> Raw:
    try:
        return _deep_checked(line, text, json.loads(text))
    except json.JSONDecodeError as e:
        return Raw(line, text, error=f"invalid JSON: {e.msg} at column {e.colno}")
    except RecursionError:
        return Raw(line, text, error=TOO_DEEP)


def _json(text: str) -> Iterator[Raw]:
    body = text.lstrip()
    if not body:
        return
    if not body.startswith("["):
        # A .json file that is really JSON Lines (or one object): read it line by line.
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            for n, line in enumerate(_lines(text), 1):
                if line.strip():
                    yield _json_value(n, line.rstrip("\r\n"))
            return
        if isinstance(value, dict):
            yield _deep_checked(1, text, value)
        else:
            yield Raw(1, text[:200], error=f"the file holds a JSON {type(value).__name__}, not a list of records")
        return
    yield from _json_array(text, len(text) - len(body) + 1)


def _json_array(text: str, pos: int) -> Iterator[Raw]:
    """The records of the array whose '[' is just before `pos`; each record's line is its index.

    Time is linear in the file: the file line an error names is counted on from the last one counted
    (counting from the start for every record made a 52k-record array take ten minutes)."""
    decoder = json.JSONDecoder()
    counted, lines = 0, 1  # "\n"s before text[counted] are counted: text[counted] is on line `lines`

    def line_at(p: int) -> int:
        nonlocal counted, lines
        lines += text.count("\n", counted, p)
        counted = p
        return lines

    index = 0
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            return
        index += 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            # Past a syntax error nothing is reliable: report the rest, from the bad record on, as one.
            yield Raw(index, text[pos:], error=f"invalid JSON at line {e.lineno}: {e.msg}; the rest of the "
                                               f"array (from record {index}, line {line_at(pos)}) cannot be read")
            return
        except RecursionError:
            end = _value_end(text, pos)
            if end is None:
                yield Raw(index, text[pos:], error=f"{TOO_DEEP}; the rest of the array (from record {index}, "
                                                   f"line {line_at(pos)}) cannot be read")
                return
            yield Raw(index, text[pos:end], error=f"{TOO_DEEP} (record {index}, line {line_at(pos)})")
        else:
            yield _deep_checked(index, text[pos:end], value)
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            yield Raw(index + 1, text[pos:], error=f"invalid JSON at line {line_at(pos)}: expected ',' or ']' "
                                                   f"after record {index}; the rest of the array cannot be read")
            return


def _deep_checked(line: int, text: str, value: Any) -> Raw:
    """A parsed record, or its reject when it nests deeper than any record should (checks.MAX_DEPTH)."""
    why = too_deep(text, value)
    return Raw(line, text, value) if why is None else Raw(line, text, error=why)


_BRACKET_OR_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _value_end(text: str, pos: int) -> int | None:
    """Where the array or object starting at `pos` ends, found by matching brackets outside strings
    (for a value too deep to parse); None when its brackets never close."""
    depth = 0
    for m in _BRACKET_OR_STRING.finditer(text, pos):
        c = m.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth <= 0:
                return m.end() if depth == 0 else None
        elif depth == 0:
            return None  # not an array or object
    return None


def _lines(text: str) -> list[str]:
    """Lines split at '\n' only (str.splitlines also splits at \u2028 and friends, which is content)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    return out + [parts[-1]] if parts[-1] else out


_SPACE = re.compile(r"[ \t\r\n]*")


def _skip_space(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()


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
