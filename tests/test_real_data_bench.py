"""benchmarks/real_data.py: its decisions, label matching and precision arithmetic, on made-up run files
and labels (the real sets never enter the repository)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("real_data_bench", ROOT / "benchmarks" / "real_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def write(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def record(rid: str, output: str = "an answer") -> dict:
    return {"turns": [{"role": "user", "content": "q"}, {"role": "assistant", "content": output}], "meta": {"id": rid}}


def made_up_run(folder: Path) -> Path:
    write(folder / "rejected.jsonl", [
        {"step": "read", "reason": "unreadable", "detail": "bad json", "record": {"raw": "{", "meta": {"line": 9}}},
        {"step": "quality", "reason": "repetitive", "detail": "", "record": record("set:1")},
        {"step": "quality", "reason": "repetitive", "detail": "", "record": record("set:2")},
        {"step": "quality", "reason": "repetitive", "detail": "", "record": record("set:3")},
        {"step": "quality#2", "reason": "empty_output", "detail": "", "record": record("set:4")},
    ])
    write(folder / "changes.jsonl", [
        {"step": "clean", "id": "set:5", "before": {"output": "a\n```x"}, "after": {"output": "a ```x"}},
        {"step": "pii", "id": "set:6", "before": {"output": "call 13800000000, mail a@b.cn"},
         "after": {"output": "call <PHONE>, mail <EMAIL>"}},
    ])
    write(folder / "flagged.jsonl", [{"step": "language", "reason": "language_exercise", "detail": "",
                                       "id": "set:7", "record": record("set:7")}])
    return folder


def test_decisions_are_read_from_a_run_s_files(bench, tmp_path):
    found = bench.run_decisions(made_up_run(tmp_path / "run"), "pipeline", bench.mask_types())
    keys = sorted(d.key for d in found)
    assert keys == sorted([
        ("set:1", "quality", "drop", "repetitive"), ("set:2", "quality", "drop", "repetitive"),
        ("set:3", "quality", "drop", "repetitive"), ("set:4", "quality", "drop", "empty_output"),  # quality#2 is quality
        ("set:5", "clean", "change", ""),
        ("set:6", "pii", "mask", "phone"), ("set:6", "pii", "mask", "email"),  # one decision per placeholder type
        ("set:7", "language", "flag", "language_exercise"),
    ])  # the reader's reject is nobody's decision
    phone = next(d for d in found if d.reason == "phone")
    assert {"mobile", "landline"} <= phone.aliases and phone.review["after"]["output"].startswith("call <PHONE>")


def test_precision_counts_each_labelled_decision_once(bench, tmp_path):
    first = bench.run_decisions(made_up_run(tmp_path / "a"), "pipeline", bench.mask_types())
    again = bench.run_decisions(made_up_run(tmp_path / "b"), "quality", bench.mask_types())
    decisions = bench.merge(first + again)
    assert len(decisions) == 8 and next(d for d in decisions if d.id == "set:1").runs == ["pipeline", "quality"]
    labels_dir = tmp_path / "labels"
    write(labels_dir / "quality.jsonl", [
        {"id": "set:1", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "right", "why": "loops"},
        {"id": "set:2", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "wrong", "why": "a list"},
        {"id": "set:3", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "wrong", "why": "first"},
        {"id": "set:3", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "right", "why": "second"},
        {"id": "set:9", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "right", "why": "gone"},
        {"id": "set:4", "step": "quality", "kind": "drop", "reason": "trivial_output", "label": "right", "why": "old"},
        "not json",
        {"id": "set:1", "step": "quality", "kind": "dropped", "label": "right"},
    ])
    write(labels_dir / "others.jsonl", [
        {"id": "set:5", "step": "clean", "kind": "change", "reason": "fence_newline", "label": "wrong", "why": "x"},
        {"id": "set:6", "step": "pii", "kind": "mask", "reason": "mobile", "label": "right", "why": "a phone"},
        {"id": "set:7", "step": "language", "kind": "flag", "reason": "language_exercise", "label": "right"},
        {"id": "set:1", "step": "perplexity", "kind": "drop", "reason": "high", "label": "right"},
        {"id": "set:8", "step": "quality", "kind": "miss", "reason": "repetitive", "label": "wrong", "why": "loops"},
        {"id": "set:1", "step": "quality", "kind": "miss", "reason": "repetitive", "label": "wrong", "why": "now"},
    ])
    labels, problems = bench.read_labels(labels_dir)
    assert len(labels) == 12 and len(problems) == 2
    assert problems[0].startswith("quality.jsonl:7: not a label") and problems[1].startswith("quality.jsonl:8:")
    t = bench.tally(decisions, labels, {"quality", "clean", "pii", "language"})
    repetitive = t.rows["quality", "drop", "repetitive"]
    # set:1 right, set:2 wrong, set:3 labelled twice: the last label counts (right), and it is a conflict
    assert (repetitive["decisions"], repetitive["right"], repetitive["wrong"], repetitive["unlabelled"]) == (3, 2, 1, 0)
    assert bench.precision(repetitive) == pytest.approx(2 / 3)
    assert len(t.conflicts) == 1 and t.conflicts[0].startswith("set:3 quality/drop/repetitive")
    # a label for a reason the step no longer gives, or a record it no longer touches, is stale
    assert sorted((s.id, s.reason) for s in t.stale) == [("set:4", "trivial_output"), ("set:9", "repetitive")]
    assert [s.step for s in t.not_run] == ["perplexity"]
    assert dict(t.misses["quality", "repetitive"]) == {"missed": 1, "caught": 1}  # set:8 missed; set:1 dropped now
    assert t.rows["quality", "drop", "empty_output"]["unlabelled"] == 1
    assert t.rows["clean", "change", ""]["wrong"] == 1          # a change matches whatever reason its label gives
    assert t.rows["pii", "mask", "phone"]["right"] == 1          # "mobile" is one of <PHONE>'s types
    assert t.rows["pii", "mask", "email"]["unlabelled"] == 1
    assert t.rows["language", "flag", "language_exercise"]["right"] == 1
    assert sorted(d.key for d in t.unlabelled) == [("set:4", "quality", "drop", "empty_output"),
                                                   ("set:6", "pii", "mask", "email")]
    text = bench.table(t)
    assert "quality         drop    repetitive                           3         3      2      1      66.7%" in text
    assert text.splitlines()[-1].split() == ["all", "8", "6", "4", "2", "66.7%", "2"]  # right: set:1, 3, 6, 7


def test_the_script_runs_labels_and_lists_what_to_label_next(bench, tmp_path, capsys):
    data = tmp_path / "data"
    write(data / "made_up.json", [json.dumps([
        {"instruction": "Say hi", "input": "", "output": "hi"},
        {"instruction": "Describe the sea", "input": "", "output": "The sea is blue and wide. " * 30},  # loops
        {"instruction": "Say hi", "input": "", "output": "hi"},
    ])])
    write(data / "pairs.json", [json.dumps([{"conversations": [{"from": "human", "value": "q"}],
                                            "chosen": {"from": "gpt", "value": "a"},
                                            "rejected": {"from": "gpt", "value": "b"}}])])
    labels = write(tmp_path / "labels" / "quality.jsonl", [
        {"id": "made_up:2", "step": "quality", "kind": "drop", "reason": "repetitive", "label": "right", "why": "loop"}])
    out = tmp_path / "out"
    code = bench.main(["--data", str(data), "--out", str(out), "--labels", str(labels.parent),
                       "--runs", "quality,dedup_exact"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "pairs.json: skipped, preference pairs" in printed
    assert "quality         drop    repetitive                           1         1      1      0     100.0%" in printed
    unlabelled = [json.loads(x) for x in (out / "unlabelled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(u["id"], u["step"], u["reason"]) for u in unlabelled] == [("made_up:3", "dedup_exact", "exact_duplicate")]
    assert unlabelled[0]["label"] == "" and unlabelled[0]["record"]["turns"][1]["content"] == "hi"
    assert (out / "quality" / "rejected.jsonl").is_file() and (out / "quality" / "report.html").is_file()


def test_one_language_runs_read_the_sets_named_for_it_and_the_mixed_ones(bench):
    sets = [Path(f"{name}.json") for name in ("alpaca_zh_demo", "alpaca_en_demo", "identity", "glaive_toolcall_zh_demo")]
    assert [p.stem for p in bench.sets_of(sets, "zh")] == ["alpaca_zh_demo", "identity", "glaive_toolcall_zh_demo"]
    assert [p.stem for p in bench.sets_of(sets, "en")] == ["alpaca_en_demo", "identity"]
