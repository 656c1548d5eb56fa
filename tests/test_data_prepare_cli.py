"""`data prepare` as a newcomer meets it: --list-steps, the shipped example, CSV columns."""

import subprocess
from pathlib import Path

import yaml

from tunesmith.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "prepare.yaml"


def test_list_steps_names_required_options_instead_of_pydantic_internals(capsys):
    assert main(["data", "prepare", "--list-steps"]) == 0
    out = capsys.readouterr().out
    assert "PydanticUndefined" not in out and "Undefined" not in out
    assert "    keep_if (required): " in out            # the meta step cannot run without its expression
    assert "    missing = 'drop'" in out or "    missing = 'keep'" in out   # options with a default show it


def test_the_example_writes_under_the_ignored_runs_folder():
    out = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["output"]["path"]
    assert out.startswith("runs/")
    # git itself says a run of the example from the repository leaves the working tree clean
    ignored = subprocess.run(["git", "check-ignore", "-q", out], cwd=ROOT)
    assert ignored.returncode == 0, f"{out} is not ignored by .gitignore"


QA_CSV = 'question,answer\nWhat is two plus two?,Four.\n"Name a warm colour, please",Red.\n'


def _qa(tmp_path, extra: str = "") -> Path:
    (tmp_path / "qa.csv").write_text(QA_CSV, encoding="utf-8")
    cfg = tmp_path / "qa.yaml"
    cfg.write_text(f"inputs: [{tmp_path / 'qa.csv'}]\nsteps:\n  - {{step: clean}}\n"
                   f"output: {{path: {tmp_path / 'out' / 'train.jsonl'}}}\n{extra}", encoding="utf-8")
    return cfg


def _kept(tmp_path) -> list[dict]:
    import json

    return [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]


def test_csv_columns_by_option(tmp_path, capsys):
    cfg = _qa(tmp_path)
    assert main(["data", "prepare", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no known record format in the fields (question, answer)" in err
    # the hint names an option that exists on this command, in the syntax data convert takes
    assert "--columns instruction=question,output=answer" in err and "data prepare" in err
    assert main(["data", "prepare", str(cfg), "--no-progress", "--columns", "instruction=question,output=answer"]) == 0
    assert [(r["instruction"], r["output"]) for r in _kept(tmp_path)] == [("What is two plus two?", "Four."),
                                                                         ("Name a warm colour, please", "Red.")]


def test_csv_columns_by_yaml_key(tmp_path, capsys):
    cfg = _qa(tmp_path, "columns: {instruction: question, output: answer}\n")
    assert main(["data", "prepare", str(cfg), "--print-config"]) == 0
    assert "columns:\n  instruction: question\n  output: answer" in capsys.readouterr().out
    assert main(["data", "prepare", str(cfg), "--no-progress"]) == 0
    assert [r["output"] for r in _kept(tmp_path)] == ["Four.", "Red."]


def test_columns_are_part_of_what_a_resume_reuses(tmp_path):
    from tunesmith.prepare.config import load_config
    from tunesmith.prepare.work import fingerprint

    cfg = _qa(tmp_path)
    plain = load_config(cfg, ["columns.instruction=question"])
    other = load_config(cfg, ["columns.instruction=answer"])
    assert fingerprint(plain) != fingerprint(other)


def test_every_command_the_hint_names_takes_columns(capsys):
    for command in (["data", "convert"], ["data", "prepare"], ["data", "contamination"]):
        try:
            main([*command, "--help"])
        except SystemExit:
            pass
        assert "--columns" in capsys.readouterr().out, command
