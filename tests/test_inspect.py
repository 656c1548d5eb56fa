"""`tunesmith inspect`: statistics agree with rendering done by hand; samples show the mask."""

from __future__ import annotations

import json

import pytest

from tunesmith.cli import main
from tunesmith.records.example import Example, Turn
from tunesmith.records.formats import write
from tunesmith.evaluate.inspect import inspect, load_tokenizer_for, script_of, segments
from tunesmith.text.render import render
from tunesmith.text.spm import encode_plain
from tunesmith.text.templates import get_template

RECORDS = [
    Example.single("What is two plus two?", "Four."),
    Example.single("用一句话介绍长城。", "长城是中国古代的军事防御工程。"),
    Example([Turn("user", "Hi"), Turn("assistant", "Hello! " * 20), Turn("user", "Bye"), Turn("assistant", "Bye.")]),
]


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "mix.jsonl"
    write(RECORDS, path, to="sharegpt")
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    return path


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer_for(str(tiny_model_dir))


def test_statistics_match_rendering_by_hand(data_file, tok):
    template = get_template("llama2", tok)
    by_hand = [render(e, template, tok, max_seq_len=4096) for e in RECORDS]
    s = inspect(data_file, "llama2", tok, max_seq_len=4096).summary()
    assert (s["records"], s["bad_records"], s["rendered"], s["truncated"]) == (3, 1, 3, 0)
    assert s["tokens"] == sum(len(r.input_ids) for r in by_hand)
    assert s["trained_tokens"] == sum(r.trained_tokens for r in by_hand)
    assert s["length"]["max"] == max(len(r.input_ids) for r in by_hand)
    zh = s["tokens_per_char"]["zh"]
    chars = sum(len(t) for t in RECORDS[1].texts())
    assert zh["records"] == 1 and zh["chars"] == chars
    assert zh["tokens"] == sum(len(encode_plain(tok, t)) for t in RECORDS[1].texts())


def test_truncation_rate_counts_cut_and_dropped_samples(data_file, tok):
    template = get_template("llama2", tok)
    longest = len(render(RECORDS[2], template, tok, max_seq_len=4096).input_ids)
    second = max(len(render(e, template, tok, max_seq_len=4096).input_ids) for e in RECORDS[:2])
    limit = max(second, longest - 5)
    cut = inspect(data_file, "llama2", tok, max_seq_len=limit).summary()
    assert cut["truncated"] + cut["dropped_too_long"] == 1 and cut["truncation_rate"] == pytest.approx(1 / 3)
    dropped = inspect(data_file, "llama2", tok, max_seq_len=limit, truncation="drop").summary()
    assert (dropped["dropped_too_long"], dropped["rendered"]) == (1, 2)


def test_segments_spell_the_sample_with_the_answers_trained(tok):
    template = get_template("llama2-zh", tok)
    r = render(RECORDS[1], template, tok, max_seq_len=4096)
    parts = segments(r, tok)
    assert "".join(p for p, _ in parts) == tok.decode(r.input_ids, skip_special_tokens=False)
    trained = "".join(p for p, t in parts if t)
    assert "长城是中国古代的军事防御工程。" in trained and "介绍" not in trained and trained.endswith("</s>")


def test_cli_shows_samples_and_statistics(data_file, tiny_model_dir, capsys):
    assert main(["inspect", str(data_file), "--template", "llama2", "--tokenizer", str(tiny_model_dir),
                 "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "What is two plus two?" in out and "Four." in out and "长城" in out
    assert "trained share" in out and "tokens/char (zh)" in out and "tokens/char (other)" in out
    assert f"bad record {data_file}:4" in out.replace("\n", "")
    assert main(["inspect", str(data_file), "--template", "llama2", "--tokenizer", str(tiny_model_dir),
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == 3 and 0 < stats["trained_share"] < 1


def test_cli_errors_are_one_line(data_file, tiny_model_dir, capsys):
    assert main(["inspect", str(data_file), "--template", "auto", "--tokenizer", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "no chat template" in err and "hint:" in err


def test_script_of():
    assert script_of("用一句话介绍长城 Wall") == "zh" and script_of("Hello 你") == "other"
