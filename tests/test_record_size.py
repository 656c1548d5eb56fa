"""A JSON Lines record over the size limit (TUNESMITH_MAX_RECORD_BYTES, 64 MiB by default) is a reject
with its file:line, skipped without being read into memory; the records around it are read as ever."""

from __future__ import annotations

import json

import pytest

from tunesmith.records import formats
from tunesmith.records.formats import BadRecord
from tunesmith.errors import DataError


def _write(path, big_chars: int) -> None:
    lines = [json.dumps({"instruction": "first", "output": "one"}),
             json.dumps({"instruction": "x" * big_chars, "output": "huge"}),
             json.dumps({"instruction": "third", "output": "three"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_overlong_line_is_a_reject_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_MAX_RECORD_BYTES", "1000")
    path = tmp_path / "data.jsonl"
    _write(path, 5_000_000)  # a few MB: many reads of the 1 MB skip
    items = list(formats.read(path))
    assert [type(i).__name__ for i in items] == ["Example", "BadRecord", "Example"]
    bad = items[1]
    assert isinstance(bad, BadRecord) and bad.line == 2 and "over the record size limit of 1,000 bytes" in bad.reason
    assert len(bad.raw) <= 200 and items[2].output == "three"
    with pytest.raises(DataError, match=r"data.jsonl:2: .*record size limit"):
        list(formats.read(path, strict=True))


def test_lines_at_the_limit_are_read(tmp_path, monkeypatch):
    line = json.dumps({"instruction": "y" * 50, "output": "ok"})
    monkeypatch.setenv("TUNESMITH_MAX_RECORD_BYTES", str(len(line)))
    path = tmp_path / "data.jsonl"
    path.write_text(line + "\n" + line, encoding="utf-8")  # with and without the final newline
    assert [i.output for i in formats.read(path)] == ["ok", "ok"]


def test_the_default_takes_large_records_and_a_bad_setting_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "data.jsonl"
    _write(path, 2_000_000)
    assert all(not isinstance(i, BadRecord) for i in formats.read(path))
    monkeypatch.setenv("TUNESMITH_MAX_RECORD_BYTES", "lots")
    with pytest.raises(DataError, match="TUNESMITH_MAX_RECORD_BYTES"):
        list(formats.read(path))
