"""`meta`: expressions over a record's extra fields; missing and null fields; a field of the wrong type
stops the run at the first record with its file:line (never silent drops)."""

from __future__ import annotations

import json
import re

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.meta import MetaStep
from tunesmith.errors import ConfigError


def meta_step(keep_if: str, missing: str = "drop") -> MetaStep:
    return MetaStep(MetaStep.Options(step="meta", keep_if=keep_if, missing=missing))


def record(line: int = 7, **fields) -> Example:
    e = Example.single("q", "a", **fields)
    e.meta.update(source="data.jsonl", line=line, id=f"data:{line}")
    return e


def test_meta_expression():
    step = meta_step("upvotes >= 3 and lang in ['zh', 'en']")
    assert not isinstance(step(Example.single("q", "a", upvotes=5, lang="zh")), Drop)
    assert step(Example.single("q", "a", upvotes=1, lang="zh")).reason == "meta"
    assert step(Example.single("q", "a", lang="zh")).reason == "meta_missing"
    keep_missing = meta_step("upvotes >= 3", missing="keep")
    assert not isinstance(keep_missing(Example.single("q", "a")), Drop)


def test_null_is_missing():
    assert not isinstance(meta_step("upvotes >= 3", missing="keep")(record(upvotes=None)), Drop)
    assert meta_step("upvotes >= 3")(record(upvotes=None)).reason == "meta_missing"
    assert meta_step("scores['helpful'] > 1")(record(scores={"helpful": None})).reason == "meta_missing"
    assert meta_step("scores['helpful'] > 1")(record(scores={})).reason == "meta_missing"
    assert not isinstance(meta_step("scores['helpful'] > 1")(record(scores={"helpful": 2})), Drop)


@pytest.mark.parametrize("keep_if,fields,said", [
    ("upvotes >= 3", {"upvotes": "5"}, r"compares text \('5'\) >= number \(3\)"),
    ("upvotes == 5", {"upvotes": "5"}, r"compares text \('5'\) == number \(5\)"),  # silently false in Python
    ("lang in ['zh', 'en']", {"lang": ["zh"]}, r"compares list \(\['zh'\]\) in list"),
    ("upvotes >= 3", {"upvotes": [1, 2]}, r"compares list"),
    ("len(tags) > 1", {"tags": 3}, r"len\(tags\) cannot be computed from number 3"),
    ("int(upvotes) >= 3", {"upvotes": "many"}, r"int\(upvotes\) cannot be computed from text 'many'"),
])
def test_a_type_mismatch_is_an_error_with_file_and_line(keep_if, fields, said):
    with pytest.raises(ConfigError, match=rf"^data\.jsonl:7: meta keep_if '{re.escape(keep_if)}': .*{said}") as caught:
        meta_step(keep_if, missing="keep")(record(**fields))
    assert "int(upvotes) >= 3" in caught.value.hint  # says what to do


def test_an_expression_that_converts_the_field_works():
    step = meta_step("int(upvotes) >= 3 and 'zh' in langs and len(langs) >= 1")
    assert not isinstance(step(record(upvotes="5", langs=["zh", "en"])), Drop)
    assert step(record(upvotes="2", langs=["zh"])).reason == "meta"


@pytest.mark.parametrize("expr", ["__import__('os').system('x')", "upvotes.__class__", "lambda: 1", "upvotes >="])
def test_meta_refuses_unsafe_or_broken_expressions(expr):
    with pytest.raises(ValueError):
        MetaStep.Options(step="meta", keep_if=expr)


@pytest.mark.parametrize("workers,engine", [(1, "local"), (2, "local"), (1, "ray")])
def test_a_run_stops_at_the_first_mismatched_record(tmp_path, workers, engine):
    from tunesmith.prepare.pipeline import prepare
    from tunesmith.prepare.config import PrepareConfig

    if engine == "ray":
        pytest.importorskip("ray")

    data = tmp_path / "raw.jsonl"
    rows = [{"instruction": "a", "output": "b", "upvotes": 5}, {"instruction": "c", "output": "d", "upvotes": None},
            {"instruction": "e", "output": "f", "upvotes": "7"}, {"instruction": "g", "output": "h", "upvotes": "9"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(data)], steps=[{"step": "meta", "keep_if": "upvotes >= 3", "missing": "keep"}],
                        output={"path": str(tmp_path / "out" / "train.jsonl")}, workers=workers, shard_size=1,
                        engine=engine)
    with pytest.raises(ConfigError, match=rf"raw\.jsonl:3: meta keep_if 'upvotes >= 3': .*text \('7'\)"):
        prepare(cfg, progress=False)
