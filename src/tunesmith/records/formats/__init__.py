"""Read and write instruction data in every format tunesmith knows, as a stream of `Example`s.

    for item in read("train.jsonl"):                 # format detected from the records
        if isinstance(item, BadRecord): ...          # file:line and why; never dropped silently
    write(examples, "out.json", to="sharegpt")       # atomic; returns the count

Record formats (`FORMATS`): alpaca, sharegpt, messages (OpenAI), conversation (FlagAlpha's
`<s>Human: ...\\n</s><s>Assistant: ...\\n</s>` text) and csv (the alpaca columns of a table, renamed by a
column mapping); preference pairs (alignment tuning) in LLaMA-Factory's and TRL's layouts (alpaca-pair,
sharegpt-pair, messages-pair, trl, trl-chat, trl-implicit: preference.py; a pair written as alpaca, csv,
sharegpt, messages or parquet takes that format's pair layout). File types, from the suffix: .json (array),
.jsonl, .csv/.tsv, .parquet, .txt (conversation text only). Any record format can live in any file type
except .txt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tunesmith.records.example import Example
from tunesmith.records.formats import checks, files, preference, records
from tunesmith.records.formats.records import RecordError, default_id
from tunesmith.errors import DataError

FORMATS = ("alpaca", "sharegpt", "messages", "conversation", "csv") + records.PAIR_LAYOUTS  # pairs: preference.py
WRITE_FORMATS = FORMATS + ("parquet",)
DETECT_SAMPLE = 100  # records looked at to decide a file's format


@dataclass
class BadRecord:
    """A record that could not be read: where it is, why, and its raw text (kept for the rejects file)."""
    source: str
    line: int
    reason: str
    raw: str

    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def to_dict(self) -> dict:
        return {"source": self.source, "line": self.line, "reason": self.reason, "raw": files.readable(self.raw)}


STRICT_HINT = "fix the record, or leave out --strict to skip bad records (they are written to a rejects file)"


def read(path, format: str = "auto", columns: dict | None = None, strict: bool = False, *,
         encoding: str = "utf-8", prompts: bool = False) -> Iterator[Example | BadRecord]:
    """Stream the records of `path` as Examples, and the ones that cannot be read as BadRecords.

    `columns` renames fields first ({"instruction": "question", "output": "answer"}). `strict` raises
    DataError at the first bad record. `prompts` accepts records whose last turn is a user turn (a file
    of prompts for generation); training data needs an assistant answer last.
    """
    r = reader(path, format, columns, strict, encoding=encoding, prompts=prompts)
    for raw in r.raws(parse=True):
        yield r.example(raw)


@dataclass(frozen=True)
class Reader:
    """How the raw records of one file become Examples. Picklable: `data prepare` reads raw lines in the
    main process and lets its workers parse them (`example`), which is most of the cost of reading."""
    path: str
    layout: str
    columns: dict | None = None
    strict: bool = False
    encoding: str = "utf-8"
    prompts: bool = False

    def raws(self, parse: bool = False) -> Iterator[files.Raw]:
        return files.iter_raw(Path(self.path), self.encoding, parse=parse)

    def example(self, raw: files.Raw) -> Example | BadRecord:
        """The Example in `raw`, or a BadRecord saying why not (DataError instead when strict)."""
        item = _to_example(files.parsed(raw), self.layout, self.path, self.columns, self.encoding, self.prompts,
                           Path(self.path).suffix.lower())
        if isinstance(item, BadRecord) and self.strict:
            raise DataError(f"{item.where()}: {item.reason}", STRICT_HINT)
        return item


def reader(path, format: str = "auto", columns: dict | None = None, strict: bool = False, *,
           encoding: str = "utf-8", prompts: bool = False) -> Reader:
    """A `Reader` for `path`, its record format detected from the first records when `format` is auto."""
    path = Path(path)
    layout = detect(path, columns=columns, encoding=encoding) if format == "auto" else _check_format(format)
    return Reader(str(path), layout, columns, strict, encoding, prompts)


def _to_example(raw: files.Raw, layout: str, source: str, columns, encoding: str, prompts: bool,
                suffix: str) -> Example | BadRecord:
    def bad(reason: str) -> BadRecord:
        return BadRecord(source, raw.line, reason, raw.raw)

    if raw.error:
        return bad(raw.error)
    why = checks.encoding_problem(raw.raw, encoding)
    if why:
        return bad(why)
    try:
        record = records.rename(raw.value, columns) if isinstance(raw.value, dict) else raw.value
        if isinstance(record, dict) and suffix in (".csv", ".tsv"):
            record = preference.decode_cells(_table_row(records.decode_json_cells(record)))
        # After the table's JSON cells are decoded; JSON files had their depth checked as they were read.
        why = checks.hostile_value(raw.raw, record, depth=suffix not in (".json", ".jsonl", ".ndjson"))
        if why:
            return bad(why)
        looks = guess(record) if isinstance(record, dict) else None
        if looks and looks != layout and {looks, layout} not in ({"alpaca", "csv"}, {"trl", "trl-chat"}):
            fields = ", ".join(map(str, record))
            return bad(f"looks like {looks} (fields: {fields}), but the file is read as {layout}")
        if prompts and layout in ("alpaca", "csv") and isinstance(record, dict) and record.get("output") is None:
            record = {**record, "output": ""}
            example = records.parse(record, layout)
            example.turns.pop()
        else:
            example = (preference.parse if layout in records.PAIR_LAYOUTS else records.parse)(record, layout)
    except RecordError as e:
        return bad(str(e))
    problems = example.problems()
    if prompts:
        problems = [p for p in problems if not p.startswith("the last turn is not an assistant")]
    if problems:
        return bad("; ".join(problems))
    _set_position(example, source, raw.line)
    return example


def _table_row(row: dict) -> dict:
    """A CSV has no null: an empty cell means the field is absent (the texts themselves may be empty)."""
    return {k: v for k, v in row.items() if v != "" or k in ("instruction", "output", "text")}


def _set_position(example: Example, source: str, line: int) -> None:
    meta = example.meta
    own = meta.get("id")
    if own is not None and not isinstance(own, str):
        meta["field:id"] = own  # keep the original value (a number) for writing back
    meta["source"] = source
    meta["line"] = line
    meta["id"] = str(own) if own not in (None, "") else default_id(meta)


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise DataError(f"unknown data format '{format}'", f"choose auto or one of {', '.join(FORMATS)}")
    return format


def detect(path, columns: dict | None = None, encoding: str = "utf-8") -> str:
    """The record format of `path`, from its first records; DataError when unknown or mixed."""
    path = Path(path)
    if files.kind(path) == "txt":
        return "conversation"
    seen: dict[str, tuple[int, list]] = {}
    unknown: tuple[int, list] | None = None
    looked = 0
    for raw in files.iter_raw(path, encoding):
        if raw.error or not isinstance(raw.value, dict):
            continue
        record = records.rename(raw.value, columns)
        if files.kind(path) == "csv":
            record = preference.decode_cells(record)  # a pair's turns are JSON text in a table
        looks = guess(record)
        if looks is None:
            unknown = unknown or (raw.line, list(record))
        else:
            if looks == "alpaca" and files.kind(path) == "csv":
                looks = "csv"
            seen.setdefault(looks, (raw.line, list(record)))
        looked += 1
        if looked >= DETECT_SAMPLE:
            break
    if len(seen) > 1:
        parts = [f"line {line} is {name} ({', '.join(map(str, fields))})" for name, (line, fields) in seen.items()]
        raise DataError(f"{path} mixes record formats: " + "; ".join(parts),
                        "split the file by format, or force one with --format (other records are then rejected)")
    if seen:
        return next(iter(seen))
    if unknown:
        line, fields = unknown
        raise DataError(f"{path}:{line}: no known record format in the fields ({', '.join(map(str, fields))})",
                        "alpaca needs instruction/output, sharegpt conversations, messages messages, conversation "
                        "text '<s>Human: ...'. Other column names: map them with --columns "
                        "instruction=question,output=answer (data convert, data prepare, data contamination; "
                        "`columns:` in a prepare YAML), or convert the file once: "
                        "tunesmith data convert IN OUT.jsonl --columns ...")
    raise DataError(f"{path}: no readable records to detect the format from",
                    "check the file; read it with --format and --skip-bad to see each bad line")


def unwritable(example: Example, to: str) -> str | None:
    """Why `example` cannot be written as `to` (None when it can): check before `write`."""
    layout = _layout_for(to)
    if example.is_pair or layout in records.PAIR_LAYOUTS:
        return preference.unwritable(example, layout)
    return records.unwritable(example, layout)


def write(examples: Iterable[Example], path, to: str = "alpaca") -> int:
    """Write `examples` in record format `to` to `path` (file type from its suffix), atomically.

    `to="parquet"` writes the messages layout into a Parquet file; `to="csv"` writes the alpaca
    columns into a CSV file. A record the format cannot hold raises DataError naming its id.
    """
    path = Path(path)
    k = check_output(path, to)
    layout = _layout_for(to)

    def rows():
        for example in examples:
            try:
                yield _dump(example, layout)
            except RecordError as e:
                where = example.meta.get("id") or "a record"
                raise DataError(f"{where}: cannot write as {to}: {e}",
                                "check records with formats.unwritable() first, or choose another format") from None

    return files.write_rows(rows(), path, k)


def check_output(path, to: str) -> str:
    """The file type of output `path`, after checking that it can hold record format `to` (DataError if not)."""
    path = Path(path)
    if to not in WRITE_FORMATS:
        raise DataError(f"unknown output format '{to}'", f"choose one of {', '.join(WRITE_FORMATS)}")
    k = files.kind(path)
    needs = {"csv": "csv", "parquet": "parquet"}.get(to)
    if needs and k != needs:
        raise DataError(f"--to {to} writes a .{needs} file, but the output is {path.name}",
                        f"name the output *.{needs}, or choose the record format with --to alpaca|sharegpt|messages")
    if k == "txt" and to != "conversation":
        raise DataError(f"{path.name}: a .txt file holds the conversation format only", "use --to conversation")
    return k


def jsonl_line(example: Example, to: str) -> str:
    """`example` as one line of a JSON Lines file in record format `to`, exactly as `write` writes it."""
    return files.jsonl_line(_dump(example, _layout_for(to)))


def guess(record: dict) -> str | None:
    """The record format `record` looks like: a preference pair first (its fields overlap the others')."""
    return preference.guess(record) or records.guess(record)


def _dump(example: Example, layout: str) -> dict:
    if example.is_pair or layout in records.PAIR_LAYOUTS:
        return preference.dump(example, layout)
    return records.dump(example, layout)


def _layout_for(to: str) -> str:
    return "messages" if to == "parquet" else to


__all__ = ["FORMATS", "WRITE_FORMATS", "BadRecord", "Reader", "read", "reader", "write", "detect", "unwritable",
           "check_output", "jsonl_line", "DataError"]
