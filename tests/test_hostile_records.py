"""No record crashes `data prepare` or `data convert`: a lone surrogate or a value nested too deep is
rejected with file:line and the run goes on (1 and 2 workers, .jsonl and .json inputs); and a str that
UTF-8 cannot hold, should a step make one, is escaped by every writer (kept output in each format,
rejected.jsonl, report.json, work files) instead of failing the write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.cli import main
from tunesmith.records import formats
from tunesmith.records.formats import BadRecord
from tunesmith.prepare.pipeline import prepare
from tunesmith.prepare.config import PrepareConfig, load_config
from tunesmith.prepare.steps import STEPS, Drop, Step

GOOD = [{"instruction": "解释一下光合作用。", "output": "光合作用是植物利用光能把二氧化碳和水转化为有机物的过程。"},
        {"instruction": "Name a primary colour.", "output": "Red is a primary colour."},
        {"instruction": "Send a smile.", "output": "Here you are: \U0001F600"}]
HOSTILE = ['{"instruction": "cut emoji \\ud83d", "output": "half a character"}',
           '{"instruction": "q", "output": "a", "extra": ' + "[" * 1500 + "]" * 1500 + "}",
           '{"instruction": "q", "output": "b", "extra": ' + "[" * 300 + "]" * 300 + "}",
           '{"instruction": "q", "output": "low \\udc00 half"}']


def _input(tmp_path: Path, suffix: str) -> tuple[Path, dict[int, str]]:
    """GOOD and HOSTILE records interleaved; returns the file and {line: why} of the hostile ones."""
    rows, bad = [], {}
    for i, line in enumerate(HOSTILE):
        rows.append(json.dumps(GOOD[i % len(GOOD)], ensure_ascii=False))
        rows.append(line)
        bad[len(rows)] = line
    rows.append(json.dumps(GOOD[-1], ensure_ascii=False))
    path = tmp_path / f"raw{suffix}"
    text = "\n".join(rows) + "\n" if suffix == ".jsonl" else "[\n" + ",\n".join(rows) + "\n]\n"
    path.write_text(text, encoding="utf-8")
    return path, bad


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_prepare_rejects_hostile_records_with_file_line_and_goes_on(tmp_path, suffix, workers):
    path, bad = _input(tmp_path, suffix)
    cfg = PrepareConfig(inputs=[str(path)], steps=load_config(None, ["steps=[quality, dedup_exact]"]).steps,
                        workers=workers, shard_size=3, output={"path": str(tmp_path / "out" / "train.jsonl")})
    result = prepare(cfg, progress=False)
    rejected = [r for r in _lines(result.rejected_path) if r["step"] == "read"]
    assert [(r["record"]["meta"]["source"], r["record"]["meta"]["line"]) for r in rejected] == \
        [(str(path), line) for line in bad]  # in input order, for any number of workers
    reasons = {r["record"]["meta"]["line"]: r["detail"] for r in rejected}
    assert "lone surrogate \\ud83d" in reasons[2] and "lone surrogate \\udc00" in reasons[8]
    assert "nested too deep to read" in reasons[4] and "nested deeper than 200" in reasons[6]
    kept = _lines(result.output)
    assert [k["instruction"] for k in kept] == [g["instruction"] for g in GOOD]  # dedup_exact: one of each
    assert json.loads(result.report_json.read_text(encoding="utf-8"))["counts"]["rejected"] == 4 + 2


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_convert_skip_bad_rejects_hostile_records_and_writes_the_rest(tmp_path, suffix, capsys):
    path, bad = _input(tmp_path, suffix)
    out = tmp_path / "out.jsonl"
    assert main(["data", "convert", str(path), str(out), "--to", "sharegpt"]) == 2
    assert f"{path}:2: holds a lone surrogate" in capsys.readouterr().err and not out.exists()
    assert main(["data", "convert", str(path), str(out), "--to", "sharegpt", "--skip-bad"]) == 0
    assert len(_lines(out)) == 5
    rejects = _lines(tmp_path / "out.rejects.jsonl")
    assert [(r["source"], r["line"]) for r in rejects] == [(str(path), line) for line in bad]


class HalfCharacter(Step):
    """What a buggy step could do: leave half of a surrogate pair in a text (and drop some records)."""
    name = "half_character"

    def apply(self, example):
        example.turns[-1].content += " \ud83d"
        if "primary" in example.turns[0].content:
            return Drop("half", "dropped with \ud83d in its detail")
        return example


@pytest.mark.parametrize("steps", [["half_character"], ["half_character", "dedup_exact"]])
@pytest.mark.parametrize("to,name", [("alpaca", "t.jsonl"), ("sharegpt", "t.json"), ("csv", "t.csv"),
                                     ("parquet", "t.parquet"), ("conversation", "t.txt")])
def test_every_output_writer_escapes_what_utf8_cannot_hold(tmp_path, monkeypatch, steps, to, name):
    monkeypatch.setitem(STEPS, "half_character", HalfCharacter)
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in GOOD), encoding="utf-8")
    out = tmp_path / "out" / name
    cfg = PrepareConfig(inputs=[str(path)], steps=load_config(None, [f"steps={steps}"]).steps, keep_work=True,
                        output={"path": str(out), "format": to})
    result = prepare(cfg, progress=False)
    assert result.kept == 2 and result.rejected == 1
    for written in [result.rejected_path, result.report_json, result.report_html,
                    *(p for p in cfg.work_folder().rglob("*") if p.is_file())] + ([] if to == "parquet" else [out]):
        written.read_bytes().decode("utf-8")  # strict: every file is valid UTF-8
    (reject,) = _lines(result.rejected_path)
    assert reject["detail"] == "dropped with \ud83d in its detail"  # JSON escape: the same text back
    kept = [e for e in formats.read(out, format="auto") if not isinstance(e, BadRecord)]
    if name.endswith((".jsonl", ".json")):
        assert kept == []  # read back, the lone surrogates are there again, and rejected as on any input
    else:
        assert [e.turns[-1].content.endswith(" \\ud83d") for e in kept] == [True, True]  # escaped text


@pytest.mark.parametrize("steps", [["half_character"], ["half_character", "dedup_exact"]])
def test_a_write_reject_holding_half_a_character_is_escaped(tmp_path, monkeypatch, steps):
    monkeypatch.setitem(STEPS, "half_character", HalfCharacter)
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps({"instruction": "Quote the marker.", "output": "It is </s>."}) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "t.txt"
    cfg = PrepareConfig(inputs=[str(path)], steps=load_config(None, [f"steps={steps}"]).steps,
                        output={"path": str(out), "format": "conversation"})
    result = prepare(cfg, progress=False)
    (reject,) = _lines(result.rejected_path)  # the conversation text format cannot hold "</s>"
    assert reject["step"] == "write" and reject["record"]["turns"][-1]["content"] == "It is </s>. \ud83d"
