"""report.html as shared: no raw personal data in the records it quotes, no clipped bar labels."""

import json
import re
from pathlib import Path

import pytest

from tunesmith.cli import main
from tunesmith.prepare.report_pii import mask_record
from tunesmith.prepare.report_svg import _DIAG, grouped_bars, horizontal_bars, text_width
from tunesmith.prepare.steps.pii_find import PiiFinder

PERSONAL = ["13812345678", "zhang.wei@qq.com", "138 1234 5678", "li.na@163.com"]
RAW = [
    # dropped by quality before the pii step runs
    {"instruction": "我的手机号是13812345678，邮箱 zhang.wei@qq.com，请帮我写个简介", "output": ""},
    # changed by clean before pii, then masked by pii: both diffs are quoted in the report
    {"instruction": "Call me at 138 1234 5678 or write to li.na@163.com about the <b>order</b>",
     "output": "Sure, I will write to li.na@163.com today."},
    {"instruction": "What is two plus two?", "output": "Four."},
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    (root / "raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RAW), encoding="utf-8")
    (root / "p.yaml").write_text(f"inputs: [{root / 'raw.jsonl'}]\nsteps:\n  - {{step: clean}}\n"
                                 f"  - {{step: quality}}\n  - {{step: pii}}\n"
                                 f"output: {{path: {root / 'out' / 'train.jsonl'}}}\n")
    assert main(["data", "prepare", str(root / "p.yaml"), "--no-progress"]) == 0
    return root / "out"


def test_report_quotes_no_raw_personal_data(prepared):
    html = (prepared / "report.html").read_text(encoding="utf-8")
    report = (prepared / "report.json").read_text(encoding="utf-8")
    for value in PERSONAL:
        assert value not in html and value not in report, value
    # the project's own finder agrees: nothing personal is left in what the report quotes
    summary = json.loads(report)
    quoted = json.dumps([summary["examples"], summary["flag_examples"], summary["changes"]["sample"]],
                        ensure_ascii=False)
    assert PiiFinder().find(quoted) == []
    # still readable: the drop is there, with the types of what was masked; the pii diff shows what it did
    assert "我的手机号是⟨mobile⟩，邮箱 ⟨email⟩" in html
    pii = summary["changes"]["sample"]["pii"][0]
    assert "⟨mobile⟩" in pii["before"]["instruction"] and "<PHONE>" in pii["after"]["instruction"]
    # the files for whoever fixes the data keep the records as they were
    assert "13812345678" in (prepared / "rejected.jsonl").read_text(encoding="utf-8")


def test_a_value_personal_in_one_text_is_masked_in_all(tmp_path):
    row = {"step": "quality", "reason": "x", "record": {
        "turns": [{"role": "user", "content": "我的邮箱是 wang@qq.com"},
                  {"role": "assistant", "content": "写信到 wang@qq.com"}],
        "meta": {"source": "data/13812345678.jsonl", "id": "raw:13812345678", "line": 3}}}
    masked = mask_record(row)
    assert [t["content"] for t in masked["record"]["turns"]] == ["我的邮箱是 ⟨email⟩", "写信到 ⟨email⟩"]
    assert masked["record"]["meta"] == row["record"]["meta"]          # where it came from stays readable
    assert row["record"]["turns"][0]["content"] == "我的邮箱是 wang@qq.com"  # a copy: the row is untouched
    # half a surrogate pair (a reject's detail may quote one) is no reason to crash or to leave PII
    odd = mask_record({"detail": "broken \ud83d text, mail wang@qq.com"})
    assert odd == {"detail": "broken \ud83d text, mail ⟨email⟩"}


def _labels(svg: str):
    """(x, y, anchor, rotated, text) of every <text> in the SVG."""
    out = []
    for m in re.finditer(r"<text x='([\d.]+)' y='([\d.]+)'([^>]*)>([^<]*)</text>", svg):
        attrs = m.group(3)
        anchor = re.search(r"text-anchor='(\w+)'", attrs)
        out.append((float(m.group(1)), float(m.group(2)), anchor.group(1) if anchor else "start",
                    "rotate(-45" in attrs, m.group(4)))
    return out


def _view(svg: str) -> tuple[float, float]:
    w, h = re.search(r"viewBox='0 0 ([\d.]+) ([\d.]+)'", svg).groups()
    assert f"width='{w}'" in svg and f"height='{h}'" in svg
    return float(w), float(h)


LONG = ["quality/answer_repeats_the_question_verbatim_and_then_some", "pii/id_card",
        "safety/违法犯罪内容（包括诈骗、赌博、毒品等）", "language/und"]


def test_horizontal_bar_labels_fit():
    svg = horizontal_bars({k: 10 ** i for i, k in enumerate(LONG)}, "records")
    width, _ = _view(svg)
    texts = {t[4]: t for t in _labels(svg)}
    for label in LONG:
        x, _, anchor, _, _ = texts[label]
        assert anchor == "end" and x - text_width(label) >= 0, label     # its start is inside the picture
    values = [t for t in _labels(svg) if t[4].replace(",", "").isdigit()]
    assert all(x + text_width(text) <= width for x, _, _, _, text in values)
    # the bars keep their room however long the labels are
    assert max(float(w) for w in re.findall(r"<rect x='[\d.]+' y='[\d.]+' width='([\d.]+)'", svg)) >= 300


def test_grouped_bar_labels_fit():
    labels = ["0–99", "100–199", "a-very-long-length-bucket-label-0123456789", "超长的中文分组标签名字"]
    svg = grouped_bars(labels, {"before": [1, 2, 3, 4], "after": [4, 3, 2, 1]}, ["#9ab", "#2a6"], "records")
    width, height = _view(svg)
    for x, y, anchor, rotated, text in _labels(svg):
        if text in labels:  # turned 45 degrees, ending at (x, y): it runs down and to the left
            assert anchor == "end" and rotated
            reach = text_width(text) * _DIAG
            assert x - reach - 8 * _DIAG >= 0 and y + reach <= height and x <= width, text
    # short labels keep the old 600 x 300 picture
    assert _view(grouped_bars(["0–99", "100+"], {"a": [1, 2]}, ["#000"], "n")) == (600, 300)
