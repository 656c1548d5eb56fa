"""The commands end to end on the tiny model: chat RUN, generate (batched), serve (a real process),
merge and export, including their one-line errors."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import time

import openai
import pytest

from run_factory import make_run
from tunesmith import cli
from tunesmith.records.example import Example
from tunesmith.infer.chat import ChatSession
from tunesmith.infer.generate import Generation, Sampling, generate_batch
from tunesmith.infer.target import open_target


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    return make_run(tmp_path_factory.mktemp("runs") / "cli-run", "lora", base_dir=tiny_model_dir)


@pytest.fixture(scope="module")
def target(run):
    return open_target(run)


def _greedy(target, question, n):
    gen = Generation(target.model, target.tokenizer, target.prompt_ids(Example.single(question, "")),
                     Sampling(max_new_tokens=n), target.stop_ids)
    return "".join(gen)


def test_chat_prompt_on_a_run(run, target, capsys):
    assert cli.main(["chat", str(run), "--prompt", "Hello there", "--max-new-tokens", "6"]) == 0
    assert capsys.readouterr().out == _greedy(target, "Hello there", 6) + "\n"


def test_chat_says_what_it_loads_on_stderr_only(run, target, capsys):
    """Each loading phase is a line on stderr while stdout stays exactly the answer (issue #21 item 8)."""
    assert cli.main(["chat", str(run), "--prompt", "Hello there", "--max-new-tokens", "6"]) == 0
    out, err = capsys.readouterr()
    assert out == _greedy(target, "Hello there", 6) + "\n"
    lines = err.splitlines()
    assert any(line.startswith("loading the weights from ") and "float32 on cpu" in line for line in lines), err
    assert f"loading the adapter from {run / 'adapter'} (lora) ..." in lines, err
    assert f"loading the tokenizer from {run / 'tokenizer'} ..." in lines, err
    assert re.fullmatch(rf"{re.escape(str(run))} ready in [\d.]+ s \(libraries [\d.]+ s, (peft [\d.]+ s, )?weights [\d.]+ s, "
                        r"adapter [\d.]+ s, tokenizer [\d.]+ s\)", lines[-1]), err


def test_interactive_chat_keeps_history_and_survives_errors(target):
    session = ChatSession(target, Sampling(max_new_tokens=4))
    too_long = "word " * (target.context + 5)
    stdin = io.StringIO(f"hi\n{too_long}\nagain\n/system Be kind.\nhello\n/reset\n/exit\n")
    out = io.StringIO()
    assert session.interactive(stdin, out) == 0
    text = out.getvalue()
    assert text.count("bot>") == 4 and "(error: the prompt is" in text
    assert "(system prompt set; history cleared)" in text and "(history cleared)" in text
    assert session.system == "Be kind." and session.history == []


def test_history_is_part_of_the_next_prompt(target):
    session = ChatSession(target, Sampling(max_new_tokens=3))
    first = "".join(session.ask("first question"))
    ids = session.prompt_ids("second question")
    text = target.tokenizer.decode(ids)
    assert "Human: first question" in text and "Human: second question" in text
    assert text.index("first question") < text.index("second question")
    assert len(session.history) == 2 and session.history[1].content == first


def test_batched_answers_equal_one_at_a_time(target):
    questions = ["a", "a much longer question with many more words in it", "中文问题", "short one"]
    prompts = [target.prompt_ids(Example.single(q, "")) for q in questions]
    batched = generate_batch(target.model, target.tokenizer, prompts, Sampling(max_new_tokens=6), target.stop_ids,
                             batch_size=3, progress=False)
    assert [b.text for b in batched] == [_greedy(target, q, 6) for q in questions]


def test_generate_command(run, target, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    lines = [{"instruction": "Say hi"}, {"instruction": "What is 1+1?", "output": "2"},
             {"messages": [{"role": "user", "content": "你好"}]}]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:2]) + "\nnot json\n"
    prompts.write_text(body, encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    assert cli.main(["generate", str(run), str(prompts), str(out), "--max-new-tokens", "5", "--batch-size", "2"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3
    assert rows[0]["answer"] == _greedy(target, "Say hi", 5) and rows[0]["source"].endswith("prompts.jsonl:1")
    assert rows[1]["reference"] == "2" and rows[1]["finish_reason"] in ("stop", "length")
    assert "error" in rows[2] and rows[2]["source"].endswith("prompts.jsonl:3")
    captured = capsys.readouterr()
    assert "2 answers written" in captured.out and "prompts.jsonl:3" in captured.err


def test_serve_command_in_a_real_process(run, target):
    env = dict(os.environ, TS_KEY="k-123")
    proc = subprocess.Popen([sys.executable, "-m", "tunesmith", "serve", str(run), "--port", "0",
                             "--api-key-env", "TS_KEY"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        line = ""
        deadline = time.time() + 120
        while "serving" not in line and time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail("server exited before serving")
        port = int(re.search(r":(\d+)/v1", line).group(1))
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k-123", max_retries=0)
        reply = client.chat.completions.create(model="cli-run", temperature=0, max_tokens=5,
                                               messages=[{"role": "user", "content": "Hello there"}])
        assert reply.choices[0].message.content == _greedy(target, "Hello there", 5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_port_in_use_and_missing_key(run, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert cli.main(["serve", str(run), "--port", str(port)]) == 2
        assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert cli.main(["serve", str(run), "--api-key-env", "TUNESMITH_TEST_UNSET_KEY"]) == 2
    assert "TUNESMITH_TEST_UNSET_KEY" in capsys.readouterr().err


def test_merge_and_export_commands(tmp_path, tiny_model_dir, capsys):
    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir, scale=0.1)
    assert cli.main(["merge", str(run), str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "tokenizer.model").is_file()  # llama.cpp's converter needs it
    out = capsys.readouterr().out
    assert "merged LoRA into the base" in out and "tolerance 1e-04" in out
    assert cli.main(["export", str(tmp_path / "merged"), "--gguf", str(tmp_path / "m.gguf"), "--type", "q8_0"]) == 0
    assert "checked by loading it back: tokenization identical" in capsys.readouterr().out
    prefix = make_run(tmp_path / "prefix-run", "prefix", base_dir=tiny_model_dir)
    assert cli.main(["merge", str(prefix), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err  # after the loading lines, the error and its hint
    assert err.splitlines()[-2].startswith("error: cannot merge a prefix tuning adapter") and "hint:" in err


def test_a_run_folder_without_a_model_is_one_line(tmp_path, capsys, tiny_model_dir):
    run = make_run(tmp_path / "unfinished", "lora", base_dir=tiny_model_dir)
    import shutil

    shutil.rmtree(run / "adapter")
    assert cli.main(["chat", str(run), "--prompt", "hi"]) == 2
    assert "has no trained adapter/ or model/" in capsys.readouterr().err
