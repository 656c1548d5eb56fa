"""`train`'s data reading against hostile records: a JSON value nested past the reader's limit is a bad
record with its file:line (skipped and counted with data.skip_bad, a DataError naming the line without),
never an uncaught RecursionError."""

from __future__ import annotations

import logging

import pytest

from tunesmith.errors import DataError
from tunesmith.runs.config import RunConfig
from tunesmith.train.data import _read

DEEP = '{"instruction": "q", "output": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}"


def _config(path, skip_bad: bool) -> RunConfig:
    return RunConfig.model_validate({"data": {"train": [str(path)], "skip_bad": skip_bad}})


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_record_nested_too_deep_is_skipped_with_its_place(tmp_path, caplog, suffix):
    path = tmp_path / f"train{suffix}"
    good = '{"instruction": "Say hi", "output": "hi"}'
    path.write_text(f"{good}\n{DEEP}\n" if suffix == ".jsonl" else f"[{good},\n{DEEP}]\n", encoding="utf-8")
    stats = {"records": 0, "bad_records": 0}
    with caplog.at_level(logging.WARNING, logger="tunesmith.train.data"):
        examples = _read([str(path)], _config(path, True), stats)
    assert [e.output for e in examples] == ["hi"] and stats == {"records": 1, "bad_records": 1}
    assert "nested too deep" in caplog.text and f"train{suffix}:" in caplog.text


def test_without_skip_bad_it_is_a_data_error_naming_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"instruction": "Say hi", "output": "hi"}\n' + DEEP + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.jsonl:2: .*nested too deep"):
        _read([str(path)], _config(path, False), {"records": 0, "bad_records": 0})
