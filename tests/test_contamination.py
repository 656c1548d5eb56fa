"""Contamination: training records that (near-)duplicate eval records are found, reported, removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.cli import main
from tunesmith.dedup.contamination import find_contamination
from tunesmith.dedup.synthetic import Planter
from tunesmith.records.example import Example


def test_planted_contamination_precision_recall():
    planter = Planter(seed=21)
    bench = [Example.single(planter.latin(160) if i % 2 else planter.chinese(60), "", id=f"q{i}") for i in range(200)]
    train, truth = [], set()
    for i in range(1500):
        if i % 10 == 0:
            q = bench[(i // 10) % len(bench)].instruction
            kind = (i // 10) % 3
            text = q if kind == 0 else planter.reformat(q) if kind == 1 else planter.edit(q, 1)
            truth.add(i)
        else:
            text = planter.latin(160) if i % 2 else planter.chinese(60)
        train.append(Example.single(text, "an answer", id=f"t{i}"))
    # Training records that resemble each other but no eval record must not count.
    train.append(Example.single(train[1].instruction, "copy", id="twin-of-t1"))
    report = find_contamination(train, {"bench.jsonl": bench}, threshold=0.7)
    found = report.contaminated()
    precision = len(found & truth) / max(1, len(found))
    recall = len(found & truth) / len(truth)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    assert report.per_eval_file() == {"bench.jsonl": len(found)}
    hit = next(h for h in report.hits if h.train_index == 0)
    assert hit.method == "exact" and hit.eval_id == "q0" and hit.similarity == 1.0


def test_exact_method_ignores_near_matches():
    bench = [Example.single("Explain the theory of relativity in simple words for a child of ten", "", id="b")]
    train = [Example.single("explain the theory of relativity, in simple words, for a child of ten!", "x", id="t0"),
             Example.single("Explain the theory of relativity in simple terms for a child of ten", "x", id="t1")]
    assert [h.train_id for h in find_contamination(train, {"b": bench}, method="exact").hits] == ["t0"]
    near = find_contamination(train, {"b": bench}, method="near", threshold=0.5)  # one word of 13: J 8/14
    assert [(h.train_id, h.method) for h in near.hits] == [("t0", "exact"), ("t1", "near")]


def test_cli_reports_and_removes(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    rows = [{"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
            {"instruction": "Write a haiku about autumn leaves falling slowly", "input": "", "output": "..."},
            {"instruction": "WHAT IS THE CAPITAL OF FRANCE", "input": "", "output": "It is Paris."}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"instruction": "What is the capital of France?"}) + "\n")
    out = tmp_path / "clean" / "train.clean.jsonl"
    rc = main(["data", "contamination", str(train), str(bench), "--remove", "--out", str(out),
               "--report", str(tmp_path / "hits.json")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "2 contaminated" in printed
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["instruction"] for r in kept] == ["Write a haiku about autumn leaves falling slowly"]
    # the side files are named as --help says: --out's name with its extension replaced
    assert sorted(p.name for p in out.parent.iterdir()) == ["train.clean.contaminated.jsonl", "train.clean.jsonl",
                                                            "train.clean.unreadable.jsonl"]
    removed = [json.loads(line) for line in (out.parent / "train.clean.contaminated.jsonl").read_text().splitlines()]
    assert [r["eval_file"] for r in removed] == [str(bench)] * 2
    unreadable = (out.parent / "train.clean.unreadable.jsonl").read_text()
    assert "train.clean.contaminated.jsonl: 2 removed" in printed
    assert "{broken" in unreadable
    hits = json.loads((tmp_path / "hits.json").read_text())
    assert hits["contaminated"] == 2 and len(hits["hits"]) == 2


def test_help_names_the_side_files_the_command_writes(capsys):
    with pytest.raises(SystemExit):
        main(["data", "contamination", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--out train.clean.jsonl: train.clean.contaminated.jsonl" in text and "train.clean.unreadable.jsonl" in text
    assert "OUT_STEM" not in text


def test_cli_errors_are_one_line(tmp_path, capsys):
    train = tmp_path / "t.jsonl"
    train.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    assert main(["data", "contamination", str(train), str(train), "--remove"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["data", "contamination", str(train), str(tmp_path / "missing.jsonl")]) == 2
    assert main(["data", "contamination", str(train), str(train), "--fields", "question"]) == 2


def test_containment_finds_a_question_buried_in_a_long_record():
    planter = Planter(seed=3)
    question = planter.latin(160)
    short = "Translate the sentence to French"  # 5 words: 3 shingles, contained in many innocent records
    bench = [Example.single(question, "", id="q"), Example.single(short, "", id="short")]
    filler = planter.latin(900)
    train = [Example.single(filler[:400] + " " + question + " " + filler[400:], "x", id="buried"),
             Example.single(f"{short}: {planter.latin(300)}", "x", id="innocent"),
             Example.single(planter.latin(300), "x", id="other")]
    assert find_contamination(train, {"b": bench}, criterion="jaccard").hits == []  # J ~ 0.15: LSH never sees it
    hits = find_contamination(train, {"b": bench}).hits  # default: max of jaccard and containment
    assert [(h.train_id, h.eval_id, h.measure, h.similarity) for h in hits] == [("buried", "q", "containment", 1.0)]
    assert find_contamination(train, {"b": bench}, criterion="containment").contaminated() == {0}
    loose = find_contamination(train, {"b": bench}, min_shingles=1)  # without the floor, the short one matches
    assert loose.contaminated() == {0, 1}


EVAL = Path(__file__).resolve().parents[1] / "examples" / "eval"


def test_reads_the_multiple_choice_csvs_eval_choice_reads(tmp_path, capsys):
    """C-Eval (header) and MMLU (no header) files and folders: each question with its options is an eval record."""
    train = tmp_path / "train.jsonl"
    rows = [{"instruction": "What is 7 + 8?", "input": "A. 13\nB. 14\nC. 15\nD. 16", "output": "C"},  # MMLU
            {"instruction": "太阳从哪个方向升起？", "input": "A. 东方\nB. 西方\nC. 南方\nD. 北方", "output": "A"},
            {"instruction": "Write a haiku about autumn leaves falling slowly", "output": "..."}]
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = tmp_path / "hits.json"
    rc = main(["data", "contamination", str(train), str(EVAL / "ceval"), str(EVAL / "mmlu" / "test"
                                                                           / "elementary_mathematics_test.csv"),
               "--method", "exact", "--report", str(report)])
    assert rc == 0, capsys.readouterr().err
    hits = json.loads(report.read_text())["hits"]
    assert sorted((h["train_id"], h["eval_id"]) for h in hits) == [("train:1", "elementary_mathematics_test:1"),
                                                                  ("train:2", "common_sense_val:2")]
    out = capsys.readouterr().out
    assert "9 eval records" in out and "6 eval records" in out  # ceval dev 3 + val 6; the MMLU test file's 6


def test_choice_records_are_question_then_options():
    from tunesmith.commands.data_contamination import choice_records

    first = choice_records(EVAL / "mmlu" / "test" / "elementary_mathematics_test.csv")[0]
    assert first.instruction == "What is 7 + 8?" and first.input == "A. 13\nB. 14\nC. 15\nD. 16"
    assert first.output == "C. 15" and first.meta["line"] == 1


def test_columns_map_a_csv_as_data_convert_does(tmp_path, capsys):
    train = tmp_path / "qa.csv"
    train.write_text("question,answer\nWhat is the capital of France?,Paris.\nName a colour,Red\n", encoding="utf-8")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"instruction": "What is the capital of France?"}) + "\n")
    assert main(["data", "contamination", str(train), str(bench)]) == 2
    assert "--columns instruction=question,output=answer" in capsys.readouterr().err
    columns = ["--columns", "instruction=question,output=answer"]
    assert main(["data", "contamination", str(train), str(bench), *columns]) == 0
    assert "2 records read, 1 contaminated" in capsys.readouterr().out
