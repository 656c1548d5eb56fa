"""`data synth` against a runaway or hostile endpoint: an overlong reply is judged by its length before
the (quadratic) copy check, and the checks answer in bounded time whatever the reply's size."""

from __future__ import annotations

import time

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.synth.checks import QuestionCheck, clean_question

PASSAGE = " ".join(f"Sentence {i} says green tea is brewed at eighty degrees, not boiling." for i in range(40))


def _judge(reply: str, passage: str = PASSAGE):
    example = Example.single(clean_question(reply), "", synth={"passage": passage})
    start = time.perf_counter()
    verdict = QuestionCheck(max_chars=300)(example)
    return verdict, time.perf_counter() - start


def test_an_overlong_reply_is_too_long_at_once():
    # Garbage close to the passage but not a copy of it: difflib on it alone took minutes.
    garbage = PASSAGE.replace("tea", "tee").replace("green", "grean") * 30 + "?"
    verdict, seconds = _judge(garbage)
    assert isinstance(verdict, Drop) and verdict.reason == "question_too_long", verdict
    assert seconds < 0.5, seconds


def test_an_overlong_reply_that_holds_the_passage_is_still_a_copy():
    verdict, seconds = _judge("Here is the text: " + PASSAGE + " What temperature is right?")
    assert isinstance(verdict, Drop) and verdict.reason == "copies_passage" and seconds < 0.5


def test_questions_of_normal_length_are_judged_as_before():
    assert not isinstance(_judge("What temperature should green tea be brewed at?")[0], Drop)
    verdict, _ = _judge("Sentence 3 says green tea is brewed at eighty degrees, not boiling?")
    assert isinstance(verdict, Drop) and verdict.reason == "copies_passage"


def test_a_document_line_nested_past_the_json_reader_is_a_bad_line_with_its_place(tmp_path):
    import pytest

    from tunesmith.synth.documents import ReadReport, read_documents
    from tunesmith.errors import DataError

    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "Green tea is brewed at eighty degrees."}\n' + deep + "\n", encoding="utf-8")
    report = ReadReport()
    docs = list(read_documents([path], report=report))
    assert [d.line for d in docs] == [1]
    assert len(report.bad_lines) == 1 and report.bad_lines[0].startswith(f"{path}:2: ")
    assert "nested too deep" in report.bad_lines[0]
    with pytest.raises(DataError, match=r"docs.jsonl:2: .*nested too deep"):
        list(read_documents([path], strict=True))
