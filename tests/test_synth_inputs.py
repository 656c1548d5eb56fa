"""Reading documents, the prompts, and the checks on what the LLM wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.synth.checks import AnswerCheck, QuestionCheck, clean_answer, clean_question
from tunesmith.synth.documents import ReadReport, read_documents
from tunesmith.synth.prompts import Prompts, detect_language
from tunesmith.errors import ConfigError, DataError

DATA = Path(__file__).parent / "data" / "synth"
PASSAGE_EN = ("Green tea turns bitter in boiling water, so it is usually brewed at 70 to 80 degrees Celsius "
              "for one or two minutes.")
PASSAGE_ZH = "绿茶比较娇嫩，一般用七十到八十摄氏度的水冲泡一两分钟即可；红茶可以用刚烧开的水，浸泡三到五分钟。"


def test_html_keeps_paragraphs_and_drops_scripts_styles_navigation_and_footer():
    doc = next(read_documents([DATA / "article_zh.html"]))
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0] == "二十四节气"
    assert paragraphs[1].startswith("二十四节气是古代中国人") and "立春、清明、冬至" in paragraphs[1]  # inline <b> joined
    assert paragraphs[-1].startswith("2016年")                                                 # nested <div><p>
    for junk in ("tracking", "font-family", "首页", "版权所有"):
        assert junk not in doc.text


def test_jsonl_reports_bad_lines_with_file_and_line_or_stops_when_strict():
    report = ReadReport()
    docs = list(read_documents([DATA / "library.jsonl"], report=report))
    assert [d.line for d in docs] == [1, 2]
    assert docs[1].text.startswith("图书馆") and docs[0].meta == {"id": "faq-1"}
    assert [b.split(": ")[0] for b in report.bad_lines] == [f"{DATA / 'library.jsonl'}:{n}" for n in (3, 4, 5)]
    assert "not an object" in report.bad_lines[0] and "no text field" in report.bad_lines[1]
    with pytest.raises(DataError, match=r"library.jsonl:3"):
        list(read_documents([DATA / "library.jsonl"], strict=True))


def test_folders_encodings_and_unsupported_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "gbk.txt").write_bytes("茶是中国的传统饮品。".encode("gb18030"))
    (tmp_path / "a.txt").write_text("\ufeffPlain text with a BOM.", encoding="utf-8")
    (tmp_path / "empty.md").write_text("   \n", encoding="utf-8")
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    report = ReadReport()
    docs = list(read_documents([tmp_path], report=report))
    assert [d.text for d in docs] == ["Plain text with a BOM.", "茶是中国的传统饮品。"]
    assert (report.files, report.documents, report.empty) == (3, 2, 1)
    with pytest.raises(DataError, match="PDFs: convert"):
        list(read_documents([tmp_path / "skip.pdf"]))
    with pytest.raises(DataError, match="not found"):
        list(read_documents([tmp_path / "missing.txt"]))


def test_default_prompts_speak_the_passage_language():
    assert detect_language(PASSAGE_ZH) == "zh" and detect_language(PASSAGE_EN) == "en"
    assert detect_language("LoRA 的秩 r 越大，可训练参数越多。") == "zh"         # mixed, still Chinese
    zh = Prompts().question_messages(PASSAGE_ZH)[-1]["content"]
    assert zh.startswith(PASSAGE_ZH) and zh.endswith("请你为这段内容生成一个合理的问题。只输出问题本身。")
    en = Prompts(system="Be brief.").answer_messages(PASSAGE_EN, "How hot should green tea be?")
    assert en[0] == {"role": "system", "content": "Be brief."}
    assert "Question: How hot should green tea be?" in en[1]["content"] and PASSAGE_EN in en[1]["content"]
    assert Prompts(language="en").question_messages(PASSAGE_ZH)[-1]["content"].endswith("only the question.")


def test_custom_templates_are_checked_and_filled_literally():
    tricky = 'A passage with {question} and {"json": 1} in it.'
    p = Prompts(question='Q for: {passage} ({"keep": "braces"})', answer="{passage} / {question}")
    assert p.question_messages(tricky)[-1]["content"] == f'Q for: {tricky} ({{"keep": "braces"}})'
    assert p.answer_messages(tricky, "Why?")[-1]["content"] == f"{tricky} / Why?"
    with pytest.raises(ConfigError, match=r"prompts.question lacks \{passage\}"):
        Prompts(question="Ask something")
    with pytest.raises(ConfigError, match=r"prompts.answer lacks \{question\}"):
        Prompts(answer="{passage}")


@pytest.mark.parametrize("reply,expected", [
    ("Question: How hot should green tea be?", "How hot should green tea be?"),
    ("Here is a question:\n\n1. Why does green tea turn bitter?\n2. Another?", "Why does green tea turn bitter?"),
    ("<think>the passage is about tea</think>\n**问题：**绿茶应该用多少度的水冲泡？", "绿茶应该用多少度的水冲泡？"),
    ("“红茶要泡几分钟？”", "红茶要泡几分钟？"),
    ("", ""),
])
def test_clean_question_finds_the_question(reply, expected):
    assert clean_question(reply) == expected


@pytest.mark.parametrize("question,passage,reason", [
    ("How hot should the water be for green tea?", PASSAGE_EN, None),
    ("Explain why green tea is brewed below boiling.", PASSAGE_EN, None),
    ("绿茶应该用多少度的水冲泡", PASSAGE_ZH, None),                    # no mark, but asks (多少)
    ("", PASSAGE_EN, "empty_question"),
    ("？", PASSAGE_ZH, "empty_question"),
    (PASSAGE_EN, PASSAGE_EN, "copies_passage"),
    ("Green tea turns bitter in boiling water?", PASSAGE_EN, "copies_passage"),  # a sentence of it, with a ?
    (PASSAGE_ZH + "为什么？", PASSAGE_ZH, "copies_passage"),
    ("Green tea is brewed at a lower temperature than black tea.", PASSAGE_EN, "not_a_question"),
    ("红茶可以用开水冲泡。", PASSAGE_ZH, "not_a_question"),
    ("Why " + "very " * 80 + "?", PASSAGE_EN, "question_too_long"),
])
def test_question_check(question, passage, reason):
    example = Example.single(question, passage, synth={"passage": passage})
    result = QuestionCheck()(example)
    assert (result.reason if isinstance(result, Drop) else None) == reason


@pytest.mark.parametrize("answer,reason", [
    ("Answer: At 70 to 80 degrees Celsius.", None),
    ("   ", "empty_answer"),
    ("The passage does not mention black tea.", "unanswered"),
    ("The origin of the tea ceremony is not specified in the provided text.", "unanswered"),  # SmolLM2, verbatim
    ("文中没有提到这一点。", "unanswered"),
])
def test_answer_check(answer, reason):
    example = Example.single("How hot?", clean_answer(answer), synth={"passage": PASSAGE_EN})
    result = AnswerCheck()(example)
    assert (result.reason if isinstance(result, Drop) else None) == reason
    if reason is None:
        assert example.output == "At 70 to 80 degrees Celsius."
