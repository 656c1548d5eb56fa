"""The `data prepare` runner: outputs, rejects, report, config errors, workers, resume, crashes, whole-set stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.prepare.pipeline import PrepareResult, plan, prepare
from tunesmith.prepare.config import PrepareConfig, load_config
from tunesmith.prepare.steps import STEPS, Drop, SetStep, Step
from tunesmith.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "tests" / "data" / "prepare" / "raw.jsonl"
EXAMPLE = ROOT / "examples" / "prepare.yaml"


def lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def example_config(tmp_path, **extra) -> PrepareConfig:
    cfg = load_config(EXAMPLE, [f"inputs=[{RAW}]", f"output.path={tmp_path / 'out' / 'train.jsonl'}"])
    return cfg.model_copy(update=extra) if extra else cfg


def test_example_pipeline_end_to_end(tmp_path):
    result = prepare(example_config(tmp_path), progress=False)
    assert isinstance(result, PrepareResult)
    kept, rejected = lines(result.output), lines(result.rejected_path)
    assert result.read == 19 and result.kept == len(kept) and result.rejected == len(rejected)
    assert result.kept + result.rejected == result.read  # nothing is lost
    reasons = {(r["step"], r["reason"]) for r in rejected}
    assert {("read", "unreadable"), ("language", "language"), ("quality", "empty_output"),
            ("quality", "repetitive"), ("machine_text", "ai_identity"), ("pii", "id_card"),
            ("safety", "violence"), ("meta", "meta")} <= reasons
    for row in rejected:
        assert set(row) >= {"step", "reason", "detail", "record"}
    unreadable = next(r for r in rejected if r["step"] == "read")
    assert unreadable["record"]["meta"]["line"] == 8
    # PII is masked in what is kept, and never written in clear to the rejects either.
    text = result.output.read_text(encoding="utf-8") + result.rejected_path.read_text(encoding="utf-8")
    assert "13812345678" not in text and "11010519491231002X" not in text and "zhang.san@example.com" not in text
    assert "<PHONE>" in text and "<EMAIL>" in text
    html_kept = next(k for k in kept if k["instruction"] == "What is HTML?")
    assert "<p>" not in html_kept["output"] and "track()" not in html_kept["output"] and "https://" not in html_kept["output"]
    report = json.loads(result.report_json.read_text(encoding="utf-8"))
    assert report["counts"] == {"read": 19, "kept": result.kept, "rejected": result.rejected,
                                "kept_share": round(result.kept / 19, 4),
                                "flagged": sum(1 for k in kept if k.get("flags"))}
    assert report["pii"]["mobile"] == 2 and report["pii"]["id_card"] == 2
    assert sum(report["lengths"]["before"]) == 18 and sum(report["lengths"]["after"]) == result.kept
    assert report["languages"]["counts"]["zh"] >= 5
    assert report["examples"]["safety/violence"][0]["record"]["turns"][0]["content"] == "教我怎么制作炸弹"
    page = result.report_html.read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and "src=" not in page and "<link" not in page  # self-contained
    assert "教我怎么制作炸弹" in page
    assert not (tmp_path / "out" / ".prepare-work").exists()  # work folder removed after success


def test_config_errors_name_the_step_line_and_suggest(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"inputs: [{RAW}]\nsteps:\n  - step: clean\n  - step: qualty\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.yaml:4: steps\[1\]: unknown step 'qualty' \(did you mean 'quality'\?\)"):
        load_config(cfg)
    cfg.write_text(f"inputs: [{RAW}]\nsteps:\n  - step: clean\n    url: remove\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.yaml:3: steps\[0\] \(clean\): unknown key 'url' \(did you mean 'urls'\?\)"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="urls"):
        load_config(None, ["steps=[{step: clean, urls: delete}]"])
    with pytest.raises(ConfigError, match="unknown key 'worker'"):
        load_config(None, ["worker=2"])


def test_print_config_shows_step_options(tmp_path, capsys):
    from tunesmith.cli import main

    assert main(["data", "prepare", str(EXAMPLE), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "step: pii" in out and "id_card: drop" in out and "url_placeholder" in out


def test_workers_give_the_same_output(tmp_path):
    one = prepare(example_config(tmp_path / "a", shard_size=4, workers=1), progress=False)
    two = prepare(example_config(tmp_path / "b", shard_size=4, workers=2), progress=False)
    assert one.output.read_text(encoding="utf-8") == two.output.read_text(encoding="utf-8")
    strip = [{k: v for k, v in r.items()} for r in lines(one.rejected_path)]
    assert strip == lines(two.rejected_path)


class Interrupting(Step):
    """Test step: raises KeyboardInterrupt on a marked record while the trigger file exists."""
    name = "interrupting"
    trigger: Path | None = None
    seen: list = []

    def apply(self, example):
        Interrupting.seen.append(example.instruction)
        if "北京" in example.instruction and self.trigger is not None and self.trigger.exists():
            raise KeyboardInterrupt
        return example


class Crashing(Step):
    name = "crashing"

    def apply(self, example):
        if "HTML" in example.instruction:
            raise RuntimeError("boom on purpose")
        return example


@pytest.fixture
def extra_steps(monkeypatch):
    monkeypatch.setitem(STEPS, "interrupting", Interrupting)
    monkeypatch.setitem(STEPS, "crashing", Crashing)


def test_interrupted_run_resumes_to_the_same_output(tmp_path, extra_steps):
    steps = ["clean", "interrupting", "quality", "pii"]
    fresh = prepare(example_config(tmp_path / "fresh", steps=load_config(None, [f"steps={steps}"]).steps,
                                   shard_size=3), progress=False)
    Interrupting.trigger = tmp_path / "trigger"
    Interrupting.trigger.write_text("x")
    cfg = example_config(tmp_path / "resumed", steps=load_config(None, [f"steps={steps}"]).steps, shard_size=3)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg, progress=False)
    assert any(cfg.work_folder().glob("stage0/*.stats.json"))  # finished shards were kept
    Interrupting.trigger.unlink()
    Interrupting.seen = []
    resumed = prepare(cfg, progress=False)
    assert resumed.resumed_shards >= 3
    assert "解释一下什么是机器学习。" not in Interrupting.seen  # the first shard was not redone
    assert resumed.output.read_text(encoding="utf-8") == fresh.output.read_text(encoding="utf-8")
    assert resumed.rejected_path.read_text(encoding="utf-8") == fresh.rejected_path.read_text(encoding="utf-8")


def test_changed_config_does_not_resume(tmp_path, extra_steps):
    cfg = example_config(tmp_path, keep_work=True, shard_size=5)
    prepare(cfg, progress=False)
    again = prepare(cfg, progress=False)
    assert again.resumed_shards == 4
    changed = prepare(cfg.model_copy(update={"shard_size": 6}), progress=False)
    assert changed.resumed_shards == 0


def test_a_record_that_crashes_a_step_is_rejected_with_the_error(tmp_path, extra_steps):
    cfg = example_config(tmp_path, steps=load_config(None, ["steps=[crashing]"]).steps, shard_size=5)
    result = prepare(cfg, progress=False)
    errors = [r for r in lines(result.rejected_path) if r["reason"] == "error"]
    assert len(errors) == 1 and errors[0]["step"] == "crashing"
    assert errors[0]["detail"] == "RuntimeError: boom on purpose"
    assert result.kept == 17  # 19 read - 1 unreadable - 1 crashed


class FirstOfEachInstruction(SetStep):
    """Test whole-set step: keeps the first record of each instruction length class."""
    name = "first_of_length"

    def decide(self, examples):
        seen = {}
        out = []
        for e in examples:
            key = len(e.instruction) // 10
            out.append(Drop("same_length_class", twin=seen[key]) if key in seen else None)
            seen.setdefault(key, e.meta["id"])
        return out


def test_a_whole_set_step_splits_the_stream_into_stages(tmp_path, monkeypatch):
    monkeypatch.setitem(STEPS, "first_of_length", FirstOfEachInstruction)
    options = load_config(None, ["steps=[clean, first_of_length, pii]"]).steps
    stages = plan(options)
    assert [(s.kind, s.labels) for s in stages] == [("records", ["clean"]), ("set", ["first_of_length"]),
                                                     ("records", ["pii"])]
    result = prepare(example_config(tmp_path, steps=options, shard_size=4), progress=False)
    dups = [r for r in lines(result.rejected_path) if r["step"] == "first_of_length"]
    assert dups and all(r["twin"].startswith("raw:") for r in dups)
    assert result.kept + len(dups) == 18
    assert result.steps["pii"]["seen"] == result.kept


def test_records_the_output_format_cannot_hold_are_rejected_not_lost(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(json.dumps({"instruction": "what is </s>?", "output": "a tag"}) + "\n"
                   + json.dumps({"instruction": "hi", "output": "hello"}) + "\n", encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(raw)], output={"path": str(tmp_path / "o" / "t.txt"), "format": "conversation"})
    result = prepare(cfg, progress=False)
    assert result.kept == 1 and result.rejected == 1
    assert lines(result.rejected_path)[0]["step"] == "write"


def test_cli_runs_and_reports(tmp_path, capsys):
    from tunesmith.cli import main

    code = main(["data", "prepare", str(EXAMPLE), f"inputs=[{RAW}]", f"output.path={tmp_path / 'train.jsonl'}",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "read 19" in out and "safety/violence" in out
    assert main(["data", "prepare", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_workers_parse_every_input_kind_and_keep_bad_lines_in_place(tmp_path):
    """Workers parse the raw lines: two inputs (JSON Lines with broken lines, and a CSV), shards that span
    both files, and the same kept records, rejects (file, line) and ids as one process."""
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"instruction": "第一个问题", "output": "第一个回答。"}\n{"instruction": "broken\n\n'
                     '{"instruction": "Second question?", "output": "Second answer."}\n[1, 2]\n', encoding="utf-8")
    table = tmp_path / "b.csv"
    table.write_text("instruction,output\n第三个问题,第三个回答。\nFourth question?,Fourth answer.\n",
                     encoding="utf-8")
    runs = []
    for workers in (1, 2):
        cfg = PrepareConfig(inputs=[str(jsonl), str(table)], steps=[{"step": "clean"}, {"step": "quality"}],
                            workers=workers, shard_size=2, output={"path": str(tmp_path / f"out{workers}" / "t.jsonl")})
        runs.append(prepare(cfg, progress=False))
    one, two = runs
    assert one.output.read_text(encoding="utf-8") == two.output.read_text(encoding="utf-8")
    assert lines(one.rejected_path) == lines(two.rejected_path)
    where = [(r["record"]["meta"]["source"], r["record"]["meta"]["line"]) for r in lines(two.rejected_path)]
    assert where == [(str(jsonl), 2), (str(jsonl), 5)]  # line 3 is blank
    assert [r["instruction"] for r in lines(two.output)] == ["第一个问题", "Second question?", "第三个问题",
                                                             "Fourth question?"]


def test_strict_reading_fails_in_a_worker_with_the_line_and_the_hint(tmp_path):
    from tunesmith.errors import DataError

    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(6))
                   + "{not json\n", encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(raw)], steps=[{"step": "clean"}], workers=2, shard_size=2, strict=True,
                        output={"path": str(tmp_path / "out" / "t.jsonl")})
    with pytest.raises(DataError, match=r"raw.jsonl:7: invalid JSON") as e:
        prepare(cfg, progress=False)
    assert e.value.hint and "--strict" in e.value.hint


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_writing_the_output_lines_equal_the_main_process_writing_them(tmp_path, workers):
    """A JSON Lines output is written by the last stage's workers (output.py); a .json output by
    the main process. Same records, rejects (an unwritable one included) and report either way."""
    raw = tmp_path / "raw.jsonl"
    rows = [{"instruction": f"问题 {i % 5}", "output": f"回答 {i % 5}。"} for i in range(7)]  # two duplicates
    rows[4] = {"instruction": "what is </s>?", "output": "a tag the conversation format cannot hold"}
    raw.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "{broken\n", encoding="utf-8")
    results = {}
    for name in ("t.jsonl", "t.json"):
        cfg = PrepareConfig(inputs=[str(raw)], steps=[{"step": "quality"}, {"step": "dedup_exact"}, {"step": "pii"}],
                            workers=workers, shard_size=2,
                            output={"path": str(tmp_path / name[2:] / name), "format": "conversation"})
        results[name] = prepare(cfg, progress=False)
    direct, main = results["t.jsonl"], results["t.json"]
    assert lines(direct.output) == json.loads(main.output.read_text(encoding="utf-8"))
    assert lines(direct.rejected_path) == lines(main.rejected_path)
    report = [json.loads(r.report_json.read_text(encoding="utf-8")) for r in (direct, main)]
    assert direct.kept == main.kept == 4 and direct.rejected == main.rejected == 4  # 2 dups, 1 unwritable, 1 broken
    assert [r["step"] for r in lines(direct.rejected_path)] == ["read", "dedup_exact", "dedup_exact", "write"]
    for key in set(report[0]) - {"seconds", "records_per_second", "config", "output"}:
        assert report[0][key] == report[1][key], key


def test_an_output_that_cannot_hold_its_format_fails_before_any_work(tmp_path):
    from tunesmith.errors import DataError

    cfg = PrepareConfig(inputs=[str(RAW)], steps=[{"step": "clean"}, {"step": "dedup_exact"}],
                        output={"path": str(tmp_path / "out.txt"), "format": "alpaca"})
    with pytest.raises(DataError, match="conversation format only"):
        prepare(cfg, progress=False)
    assert not cfg.work_folder().exists()  # nothing was read or saved


def test_lean_gc_nests_and_restores_the_collector():
    import gc

    from tunesmith.prepare.local_engine import lean_gc

    before = gc.get_threshold()
    with lean_gc():
        with lean_gc():
            assert gc.get_threshold() != before
        assert gc.get_threshold() != before  # the outer run still has it
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
