"""generate_file: each output line's prompt is the question as the model was asked it."""

import json

import pytest

from run_factory import make_run
from tunesmith.infer.batch import asked, generate_file
from tunesmith.infer.generate import Sampling
from tunesmith.infer.target import open_target
from tunesmith.records.example import Example


@pytest.fixture(scope="module")
def target(tmp_path_factory, tiny_model_dir):
    return open_target(make_run(tmp_path_factory.mktemp("runs") / "gen-run", "lora", base_dir=tiny_model_dir))


def test_prompt_keeps_the_alpaca_input(target, tmp_path):
    records = [{"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
               {"instruction": "Say hi"},
               {"instruction": "Name a colour.", "input": "", "output": "Red."}]
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    generate_file(target, src, out, Sampling(max_new_tokens=3), progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["prompt"] == "Translate to French.\nGood morning" and rows[0]["reference"] == "Bonjour"
    assert rows[1]["prompt"] == "Say hi" and "reference" not in rows[1]
    assert rows[2]["prompt"] == "Name a colour."          # an empty input adds nothing
    # the prompt field says what the model was given: the same text the template renders for the turn
    example = Example.single("Translate to French.", "", "Good morning")
    assert asked(example) in target.tokenizer.decode(target.prompt_ids(example))
