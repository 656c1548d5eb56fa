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
