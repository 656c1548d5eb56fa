"""What `data prepare` leaves for review: changes.jsonl (every record a step changed, before and after),
flagged.jsonl and the report's flags and diffs; the same for any number of workers, after a resume, and
written atomically. The records are written here to show each case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.prepare.pipeline import prepare
from tunesmith.prepare.config import load_config
from tunesmith.prepare.report_diff import inline_html, unified, with_diff
from tunesmith.prepare.steps import STEPS

from review_steps import TEST_STEPS, Interrupting

RECORDS = [
    {"instruction": "Say it loud", "input": "", "output": "shout: hello there"},
    {"instruction": "Say it softly", "input": "", "output": "hello there"},
    {"instruction": "Is it raining?", "input": "", "output": "maybe, look outside"},
    {"instruction": "Call me", "input": "", "output": "shout my number 13812345678"},
    {"instruction": "Fill in the form", "input": "ID 11010519491231002X", "output": "done: 11010519491231002X"},
    {"instruction": "Maybe drop me", "input": "", "output": "maybe shout, then vanish"},
    {"instruction": "Poem", "input": "", "output": "line one\nline two"},
]


@pytest.fixture(autouse=True)
def test_steps(monkeypatch):
    for cls in TEST_STEPS:
        monkeypatch.setitem(STEPS, cls.name, cls)


def write_raw(path: Path, records=RECORDS) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def run(tmp_path: Path, steps: str, *overrides: str, raw: Path | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    raw = raw or write_raw(tmp_path / "raw.jsonl")
    cfg = load_config(None, [f"inputs=[{raw}]", f"output.path={tmp_path / 'out' / 'train.jsonl'}",
                             f"steps={steps}", *overrides])
    return prepare(cfg, progress=False)


def rows(path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


STEPS_ALL = "[shouting, doubting, {step: pii, actions: {id_card: drop}}, vanishing, joining_lines]"


def test_changes_list_each_step_s_changes_with_the_texts_before_and_after(tmp_path):
    result = run(tmp_path, STEPS_ALL)
    changes = rows(result.changes_path)
    assert result.changes == len(changes)
    got = [(r["step"], r["id"]) for r in changes]
    # raw:2 and raw:3 were not changed; raw:5 was masked, then dropped by pii itself (a drop, not a change);
    # raw:6 was changed by shouting, then dropped by vanishing: its change is still a decision to review.
    assert got == [("shouting", "raw:1"), ("shouting", "raw:4"), ("pii", "raw:4"), ("shouting", "raw:6"),
                   ("joining_lines", "raw:7")]  # in record order, then step order
    shout = changes[0]
    assert shout["before"] == {"output": "shout: hello there"} and shout["after"] == {"output": "SHOUT: HELLO THERE"}
    assert shout["instruction"] == "Say it loud"  # context for a reviewer
    masked = changes[2]  # pii saw what shouting made of the record
    assert masked["before"] == {"output": "SHOUT MY NUMBER 13812345678"}
    assert masked["after"] == {"output": "SHOUT MY NUMBER <PHONE>"}
    assert changes[4]["before"] == {"output": "line one\nline two"}  # a batch step's change is found too
    assert changes[4]["after"] == {"output": "line one line two"}
    assert "diff" not in shout  # diffs only when asked for
    assert result.steps["shouting"]["changed"] == 3


def test_a_changed_input_or_instruction_is_named_by_its_field(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", [{"instruction": "<b>Bold</b> question", "input": "Ａ１ wide",
                                              "output": "fine"}])
    result = run(tmp_path, "[clean]", raw=raw)
    (row,) = rows(result.changes_path)
    assert row["before"] == {"instruction": "<b>Bold</b> question", "input": "Ａ１ wide"}
    assert row["after"] == {"instruction": "Bold question", "input": "A1 wide"}
    assert "instruction" not in {k for k in row if k not in ("before", "after")} - {"step", "id"}


def test_diffs_on_request_show_a_lost_newline(tmp_path):
    result = run(tmp_path, "[joining_lines]", "output.diffs=true")
    (row,) = rows(result.changes_path)
    assert row["diff"] == ("--- before/output\n+++ after/output\n@@ -1,2 +1 @@\n-line one\n-line two\n"
                           "\\ No newline at end of file\n+line one line two\n\\ No newline at end of file\n")


def test_workers_and_shards_give_the_same_review_files(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl")
    one = run(tmp_path / "one", STEPS_ALL, "workers=1", "shard_size=7", raw=raw)
    two = run(tmp_path / "two", STEPS_ALL, "workers=2", "shard_size=2", raw=raw)
    assert one.changes_path.read_bytes() == two.changes_path.read_bytes()
    assert one.flagged_path.read_bytes() == two.flagged_path.read_bytes()
    reports = [json.loads(r.report_json.read_text(encoding="utf-8")) for r in (one, two)]
    assert reports[0]["changes"] == reports[1]["changes"] and reports[0]["flags"] == reports[1]["flags"]


def test_an_interrupted_run_resumes_to_the_same_review_files(tmp_path):
    steps = "[shouting, interrupting_review, doubting, joining_lines]"
    raw = write_raw(tmp_path / "raw.jsonl")
    fresh = run(tmp_path / "fresh", steps, "shard_size=2", raw=raw)
    Interrupting.trigger = tmp_path / "trigger"
    Interrupting.trigger.write_text("x")
    try:
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "resumed", steps, "shard_size=2", raw=raw)
    finally:
        Interrupting.trigger.unlink()
    resumed = run(tmp_path / "resumed", steps, "shard_size=2", raw=raw)
    assert resumed.resumed_shards >= 1
    assert resumed.changes_path.read_bytes() == fresh.changes_path.read_bytes() != b""
    assert resumed.flagged_path.read_bytes() == fresh.flagged_path.read_bytes() != b""


def test_changes_off_writes_none_and_removes_an_old_file(tmp_path):
    on = run(tmp_path, "[shouting]")
    assert on.changes_path.is_file()
    off = run(tmp_path, "[shouting]", "output.changes=false")
    assert off.changes_path is None and not (tmp_path / "out" / "changes.jsonl").exists()
    assert off.steps["shouting"]["changed"] == 3  # the steps still count what they changed


def test_a_failure_while_gathering_leaves_the_old_changes_file_whole(tmp_path, monkeypatch):
    first = run(tmp_path, "[shouting]")
    before = first.changes_path.read_bytes()
    real = Path.read_bytes

    def failing(self):
        if self.name.endswith(".changes.jsonl"):
            raise OSError("disk gone")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(OSError, match="disk gone"):
        run(tmp_path, "[shouting, joining_lines]")
    assert first.changes_path.read_bytes() == before
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_flags_are_reported_by_step_and_reason_with_examples(tmp_path):
    result = run(tmp_path, STEPS_ALL)
    flagged = rows(result.flagged_path)
    # raw:3 is kept and flagged; raw:6 was flagged, then dropped by vanishing (not in flagged.jsonl)
    assert [(r["step"], r["reason"], r["id"]) for r in flagged] == [("doubting", "unsure", "raw:3")]
    assert flagged[0]["record"]["turns"][1]["content"] == "maybe, look outside"
    assert result.flags == {"doubting/unsure": 1} and result.flagged == 1
    report = json.loads(result.report_json.read_text(encoding="utf-8"))
    assert report["flags"] == [{"step": "doubting", "reason": "unsure", "kept": 1, "flagged": 2}]
    (example,) = report["flag_examples"]["doubting/unsure"]
    assert example["detail"] == "says maybe" and example["record"]["meta"]["id"] == "raw:3"
    page = result.report_html.read_text(encoding="utf-8")
    section = page[page.index("<h2>Kept but flagged for review</h2>"):page.index("<h2>Changed by each step</h2>")]
    assert "doubting/unsure" in section and "maybe, look outside" in section and "says maybe" in section
    kept = rows(result.output)
    assert next(k for k in kept if k["instruction"] == "Is it raining?")["flags"][0]["reason"] == "unsure"


def test_the_report_shows_a_deterministic_sample_of_diffs_per_step(tmp_path):
    many = [{"instruction": f"q{i}", "input": "", "output": f"shout {i}\nline"} for i in range(60)]
    raw = write_raw(tmp_path / "raw.jsonl", many)
    one = run(tmp_path / "a", "[shouting, joining_lines]", "shard_size=60", raw=raw)
    two = run(tmp_path / "b", "[shouting, joining_lines]", "shard_size=7", "workers=2", raw=raw)
    reports = [json.loads(r.report_json.read_text(encoding="utf-8")) for r in (one, two)]
    changes = reports[0]["changes"]
    assert changes["by_step"] == {"shouting": 60, "joining_lines": 60} and changes["rows"] == 120
    assert changes["file"] == "changes.jsonl"
    assert [len(changes["sample"][s]) for s in ("shouting", "joining_lines")] == [20, 20]
    assert changes["sample"] == reports[1]["changes"]["sample"]  # the same however the run is sharded
    ids = [r["id"] for r in changes["sample"]["shouting"]]
    assert ids != sorted(ids, key=lambda x: int(x.split(":")[1]))[:20]  # spread over the set, not its head
    page = one.report_html.read_text(encoding="utf-8")
    section = page[page.index("<h2>Changed by each step</h2>"):]
    assert "changed by shouting" in section and "changed by joining_lines" in section
    assert section.count("class='change'") == 40
    assert "<del>↵\n</del><ins>·</ins>" in section  # the lost newline is seen, and the space that replaced it
    assert "<del>shout</del><ins>SHOUT</ins>" in section


def test_cli_summary_names_flags_and_changes(tmp_path, capsys):
    from tunesmith.cli import main

    raw = write_raw(tmp_path / "raw.jsonl")
    code = main(["data", "prepare", "--no-progress", str(_pipeline_yaml(tmp_path, raw, STEPS_ALL))])
    out = capsys.readouterr().out
    assert code == 0
    assert "kept but flagged for review: 1 record\n" in out and "doubting/unsure" in out
    assert "changes.jsonl (5 records changed by a step)" in out and "flagged.jsonl" in out


def _pipeline_yaml(tmp_path: Path, raw: Path, steps: str) -> Path:
    path = tmp_path / "pipe.yaml"
    path.write_text(f"inputs: [{raw}]\nsteps: {steps}\noutput: {{path: {tmp_path / 'out' / 'train.jsonl'}}}\n",
                    encoding="utf-8")
    return path


# -- the diffs themselves ------------------------------------------------------------------------

def test_inline_diff_draws_changed_whitespace_and_only_that():
    html = inline_html("第一行\n第二行", "第一行第二行")
    assert html == "第一行<del>↵\n</del>第二行"
    assert inline_html("a\u3000\u3000b", "a b") == "a<del>□□</del><ins>·</ins>b"
    assert inline_html("x  y", "x y") == "x <del>·</del>y"  # unchanged whitespace stays as it is
    assert inline_html("if a<b:", "if a:") == "if a<del>&lt;b</del>:"  # the text is escaped, not markup
    assert inline_html("hello world", "hello world") == "hello world"


def test_inline_diff_marks_changed_chinese_characters_not_the_whole_sentence():
    assert inline_html("我们应该尊重每一個人的選擇", "我们应该尊重每一个人的选择") == (
        "我们应该尊重每一<del>個</del><ins>个</ins>人的<del>選擇</del><ins>选择</ins>")


def test_inline_diff_folds_long_unchanged_text():
    before = "x" * 1000 + " old " + "y" * 1000
    html = inline_html(before, before.replace("old", "new"))
    assert "<del>old</del><ins>new</ins>" in html and "unchanged characters" in html and len(html) < 800


def test_unified_diff_says_when_a_final_newline_is_lost():
    assert unified("a\nb\n", "a\nb", "output").endswith("-b\n+b\n\\ No newline at end of file\n")
    row = with_diff({"step": "s", "id": "x", "before": {"input": "old"}, "after": {"input": "new"}})
    assert row["diff"].startswith("--- before/input\n+++ after/input\n")
