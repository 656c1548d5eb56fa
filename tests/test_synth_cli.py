"""The `tunesmith data synth` command line: settings, help and the errors a user can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.cli import main

DOC = str(Path(__file__).parent / "data" / "synth" / "tea_en.txt")


def test_flags_config_file_and_overrides_resolve_in_order(tmp_path, capsys):
    config = tmp_path / "synth.yaml"
    config.write_text("backend: {model: from-file, concurrency: 2}\nprompts: {language: zh}\n", encoding="utf-8")
    # Overrides may come before, between and after the options; flags beat the file, overrides beat flags.
    assert main(["data", "synth", "backend.max_retries=9", DOC, "--config", str(config), "--model", "from-flag",
                 "--concurrency", "3", "backend.concurrency=5", "--answers", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "model: from-flag" in text and "concurrency: 5" in text and "max_retries: 9" in text
    assert "language: zh" in text and "answer: llm" in text
    assert "# Question prompt with {passage}" in text                     # every key is explained


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["data", "synth", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--local smollm2" in text and "请你为这段内容生成一个合理的问题" in text


@pytest.mark.parametrize("args,message", [
    ([DOC], "--out is missing"),
    (["--out", "x.jsonl"], "no documents given"),
    ([DOC, "--out", "x.jsonl", "backend.modle=x"], "did you mean 'backend.model'"),
    ([DOC, "--out", "x.jsonl", "passage_as_input=true"], "needs answer=llm"),
    ([DOC, "--out", "x.jsonl", "backend.kind=local"], "needs backend.path"),
    ([DOC, "--out", "x.jsonl", "prompts.question=Ask me"], r"prompts.question lacks {passage}"),
    (["missing.txt", "--out", "x.jsonl"], "document not found: missing.txt"),
])
def test_user_errors_are_one_line_with_the_key(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "synth", *args, "--cache", "off"]) == 2
    assert message in capsys.readouterr().err


def test_an_endpoint_that_is_not_there_names_the_setting(tmp_path, capsys):
    # Nothing listens on port 9 (discard) on loopback: /v1/models cannot answer, so no model is known.
    assert main(["data", "synth", DOC, "--out", str(tmp_path / "x.jsonl"), "--base-url", "http://127.0.0.1:9/v1",
                 "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "backend.model is not set" in err and "--model" in err
