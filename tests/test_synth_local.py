"""`data synth` with tunesmith's own models: the local backend (no server), and `tunesmith serve`
over real HTTP on loopback. The tiny random model writes gibberish, so most questions are dropped:
what these tests hold is the plumbing - every passage accounted for, tokens counted, the cache
keyed to the model's weights."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tunesmith.cli import main

DATA = Path(__file__).parent / "data" / "synth"
DOCS = [str(DATA / "tea_zh.txt"), str(DATA / "tea_en.txt")]
QUICK = ["--no-progress", "backend.max_tokens=8", "backend.temperature=0", "split.max_tokens=500"]


def _report(out: Path) -> dict:
    return json.loads(out.with_name(f"{out.stem}.synth.json").read_text())


def _accounted(out: Path, report: dict, at_least: int = 4) -> None:
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    rejects = [json.loads(x) for x in out.with_name(f"{out.stem}.rejects.jsonl").read_text().splitlines()]
    assert len(records) + len(rejects) == report["passages"] >= at_least and report["failed"] == 0
    assert all(r["reason"] in ("empty_question", "copies_passage", "not_a_question", "question_too_long")
               for r in rejects)


def test_local_model_folder(tmp_path, tiny_model_dir, tiny_tokenizer):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
    args = ["data", "synth", *DOCS, "--out", str(out), "--local", str(model), "--cache", str(cache), *QUICK]
    assert main(args) == 0
    report = _report(out)
    _accounted(out, report)
    usage = report["usage"]
    assert usage["requests"] == report["passages"] and usage["retries"] == 0
    assert 0 < usage["completion_tokens"] <= 8 * report["passages"] and usage["prompt_tokens"] > 0
    # Passages were measured with the model's own tokenizer (split.tokenizer=auto).
    rejects = [json.loads(x) for x in out.with_name("qa.rejects.jsonl").read_text().splitlines()]
    for row in rejects:
        synth = row["record"]["meta"]["synth"]
        # Keyed to the weights and the template (a base model without a chat template gets alpaca).
        assert synth["model"].startswith(f"local:{model.resolve()}#") and synth["model"].endswith(":alpaca")
        assert len(tiny_tokenizer(synth["passage"], add_special_tokens=False)["input_ids"]) <= 500

    assert main(args) == 0                                       # again: all from the cache
    assert _report(out)["usage"]["requests"] == 0 and _report(out)["usage"]["cache_hits"] == report["passages"]

    weights = next(model.glob("*.safetensors"))                  # "retrained": new weights, new answers
    os.utime(weights, ns=(time.time_ns(), time.time_ns()))
    assert main(args) == 0
    assert _report(out)["usage"]["requests"] == report["passages"]


def test_local_run_folder_uses_the_template_it_was_trained_with(tmp_path, tiny_model_dir):
    from run_factory import make_run

    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir)
    out = tmp_path / "qa.jsonl"
    assert main(["data", "synth", DOCS[1], "--out", str(out), "--local", str(run), "--no-cache", *QUICK]) == 0
    report = _report(out)
    assert report["usage"]["requests"] == report["passages"] >= 2 and report["usage"]["cache_hits"] == 0
    rows = [json.loads(x) for x in out.with_name("qa.rejects.jsonl").read_text().splitlines()]
    rows += [{"record": {"meta": {"synth": json.loads(x)["synth"]}}} for x in out.read_text().splitlines()]
    models = {r["record"]["meta"]["synth"]["model"] for r in rows}
    assert models == {next(iter(models))} and next(iter(models)).startswith(f"local:{run.resolve()}#")
    assert next(iter(models)).endswith(":llama2-zh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_missing() -> bool:
    from tunesmith.cli import COMMANDS

    return importlib.util.find_spec("tunesmith.infer.server") is None or "serve" not in COMMANDS


@pytest.mark.skipif(_serve_missing(), reason="`tunesmith serve` (tunesmith.infer.server and its command) is not "
                                             "in this checkout yet")
def test_tunesmith_serve_over_http(tmp_path, tiny_model_dir, capsys):
    from run_factory import make_run

    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir)   # served with its llama2-zh template
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tunesmith", "serve", str(run),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "tunesmith serve did not come up"
            time.sleep(0.3)
        out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
        # No --model: the client asks /v1/models for the one model the server has. Passages are measured
        # with the served model's tokenizer: the estimate would overflow this tiny 600-piece vocabulary.
        args = ["data", "synth", DOCS[1], "--out", str(out), "--base-url", base, "--cache", str(cache),
                "--concurrency", "2", *QUICK]
        assert main(args) == 2
        assert "too long for the model" in capsys.readouterr().err     # and says what to do about it
        assert main(args + [f"split.tokenizer={tiny_model_dir}"]) == 0
        report = _report(out)
        _accounted(out, report, at_least=2)
        usage = report["usage"]
        assert usage["requests"] == report["passages"] and usage["completion_tokens"] > 0
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
