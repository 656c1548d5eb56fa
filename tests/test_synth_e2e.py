"""`tunesmith data synth` end to end against real HTTP servers on loopback.

The fault server is a real OpenAI-compatible endpoint (FastAPI under uvicorn, in a thread) that
answers every prompt's first attempt - and some second attempts - with a 429, a 500, a reply slower
than the client's timeout, or malformed JSON, chosen from a hash of the prompt so the schedule does
not depend on thread timing. The synth run must finish anyway, count every retry, lose no passage,
and, killed halfway, resume from its cache without asking again for what it already has.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request  # module level: the handlers' annotations must resolve here
from fastapi.responses import JSONResponse, PlainTextResponse

from tunesmith.cli import main
from tunesmith.llm.cache import cache_key
from tunesmith.synth.documents import read_documents
from tunesmith.synth.split import tidy

DATA = Path(__file__).parent / "data" / "synth"
DOCS = [DATA / "tea_zh.txt", DATA / "tea_en.txt", DATA / "bridges.md", DATA / "article_zh.html", DATA / "library.jsonl"]
MODEL = "fault-model"
FAULTS = ("429", "500", "slow", "malformed", None, None)
SLOW = 1.2        # seconds a "slow" reply takes; the client's timeout is below it
TIMEOUT = 0.4


class FaultServer:
    def __init__(self, api_key: str | None = None, delay: float = 0.0):
        self.api_key = api_key
        self.delay = delay                 # seconds before each good reply (to kill a run mid-way)
        self.down = False                  # every request gets a 503
        self.attempts: Counter = Counter()
        self.faults: Counter = Counter()
        self.answered: list[dict] = []     # request bodies that got a good reply
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    # -- the schedule ----------------------------------------------------------------------------
    def fault_for(self, content: str, attempt: int) -> str | None:
        h = int(hashlib.sha256(content.encode()).hexdigest()[:8], 16)
        if attempt == 1:
            return FAULTS[h % len(FAULTS)]
        if attempt == 2 and h % 4 == 0:
            return "500"
        return None

    def reply_for(self, content: str) -> str:
        """A question about the passage; some passages get replies the checks must drop."""
        passage = content.rsplit("\n\n", 1)[0]          # the default prompts: passage, blank line, request
        if "\nQuestion: " in content or "\n问题：" in content:
            return "Answer: " + _head(passage)
        h = int(hashlib.sha256(content.encode()).hexdigest()[8:16], 16)
        if h % 9 == 0:
            return passage                                  # copies the passage: dropped
        if h % 9 == 1:
            return "This passage is interesting."           # not a question: dropped
        head = passage.replace("#", "").split()[0][:12] if passage.split() else "it"
        if any("\u4e00" <= c <= "\u9fff" for c in passage):
            return f"问题：关于“{passage[:4]}”，这段内容讲了什么？"
        return f"Question: What does the passage say about {head}?"

    # -- the app ---------------------------------------------------------------------------------
    def app(self):
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
            body = await request.json()
            content = body["messages"][-1]["content"]
            with self._lock:
                self.requests.append(body)
                self.attempts[content] += 1
                fault = "down" if self.down else self.fault_for(content, self.attempts[content])
                if fault:
                    self.faults[fault] += 1
            if fault in ("down", "500"):
                return JSONResponse({"error": {"message": "boom"}}, status_code=503 if fault == "down" else 500)
            if fault == "429":
                return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0"})
            if fault == "slow":   # the client has given up by now: this late reply is never read
                await asyncio.sleep(SLOW)
                return JSONResponse({"error": {"message": "too late"}}, status_code=504)
            if fault == "malformed":
                return PlainTextResponse('{"choices": [{"message": {"content": "half a rep', media_type="application/json")
            if self.delay:
                await asyncio.sleep(self.delay)
            text = self.reply_for(content)
            with self._lock:
                self.answered.append(body)
            return {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(content) // 2, "completion_tokens": len(text) // 2}}

        return app

    # -- serving ---------------------------------------------------------------------------------
    def __enter__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        self.server = uvicorn.Server(uvicorn.Config(self.app(), log_level="error", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "fault server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def _head(passage: str) -> str:
    return passage.split("\n")[0][:40].strip()


def _synth_args(server, out, cache, *extra):
    return ["data", "synth", *map(str, DOCS), "--out", str(out), "--base-url", server.url, "--cache", str(cache),
            "--no-progress", "split.max_tokens=80", "split.overlap_tokens=20", f"backend.timeout={TIMEOUT}",
            "backend.backoff=0.01", "backend.max_retries=4", *extra]


def _read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def _cached_keys(cache) -> set[str]:
    if not Path(cache).exists():
        return set()
    db = sqlite3.connect(cache)
    try:
        return {row[0] for row in db.execute("SELECT key FROM completions")}
    except sqlite3.OperationalError:     # the run has created the file but not yet the table
        return set()
    finally:
        db.close()


def test_faults_are_retried_counted_and_nothing_is_lost(tmp_path, capsys):
    out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
    with FaultServer() as server:
        assert main(_synth_args(server, out, cache, "--concurrency", "4")) == 0
    report = json.loads((tmp_path / "qa.synth.json").read_text())
    usage = report["usage"]

    # Every fault the server injected was retried once, for its own reason.
    assert sum(server.faults.values()) == usage["retries"] > 10
    assert usage["retry_reasons"] == {k: v for k, v in {
        "http 429": server.faults["429"], "http 500": server.faults["500"], "timeout": server.faults["slow"],
        "malformed": server.faults["malformed"]}.items() if v}
    assert all(server.faults[f] > 0 for f in ("429", "500", "slow", "malformed"))
    assert usage["requests"] == len(server.requests) and usage["failures"] == 0
    assert usage["completion_tokens"] == sum(len(server.reply_for(b["messages"][-1]["content"])) // 2
                                             for b in server.answered)

    # Nothing lost: every passage is a record or a reject with its reason.
    records, rejects = _read_jsonl(out), _read_jsonl(tmp_path / "qa.rejects.jsonl")
    assert len(records) + len(rejects) == report["passages"] == len(server.answered) > 20
    assert report["records"] == len(records) and report["rejected"] == len(rejects)
    assert {r["reason"] for r in rejects} <= {"copies_passage", "not_a_question"} and rejects
    assert all(r["step"] == "synth-question" and r["record"]["meta"]["synth"]["passage"] for r in rejects)

    # Records are Alpaca with the passage as the output and the source in meta, offsets exact.
    texts = {(d.source, d.line): d.text for d in read_documents(DOCS)}
    languages = Counter()
    for r in records:
        assert set(r) == {"instruction", "input", "output", "id", "synth"} and r["input"] == ""
        assert not r["instruction"].startswith(("Question:", "问题："))     # the reply was cleaned
        s = r["synth"]
        assert r["output"] == s["passage"] == tidy(texts[s["document"], s.get("line")][s["char_start"]:s["char_end"]])
        line = f":{s['line']}" if "line" in s else ""
        assert s["model"] == MODEL and r["id"] == f"{s['document']}{line}#{s['passage_index']}"
        languages[s["language"]] += 1
    assert languages["zh"] and languages["en"]
    # JSONL documents: the line and the document's own fields travel along; bad lines are reported.
    from_jsonl = [x["synth"] for x in records] + [x["record"]["meta"]["synth"] for x in rejects]
    assert {(m["line"], m["document_fields"]["id"]) for m in from_jsonl if "line" in m} == {(1, "faq-1"), (2, "faq-2")}
    assert [b.split("library.jsonl:")[1].split(":")[0] for b in report["bad_lines"]] == ["3", "4", "5"]
    assert "cache hits 0" in capsys.readouterr().out

    # The same command again costs nothing: every answer comes from the cache.
    first = out.read_bytes()
    with FaultServer() as again:
        assert main(_synth_args(again, out, cache)) == 0
        assert again.requests == []
    assert json.loads((tmp_path / "qa.synth.json").read_text())["usage"]["cache_hits"] == len(server.answered)
    assert out.read_bytes() == first

    # The output goes straight into `data prepare`, the source of each record travelling with it.
    (tmp_path / "prepare.yaml").write_text(f"inputs: [{out}]\nsteps:\n  - {{step: clean}}\n  - {{step: quality}}\n"
                                           f"output: {{path: {tmp_path / 'prepared' / 'train.jsonl'}}}\n")
    assert main(["data", "prepare", str(tmp_path / "prepare.yaml"), "--no-progress"]) == 0
    prepared = _read_jsonl(tmp_path / "prepared" / "train.jsonl")
    dropped = _read_jsonl(tmp_path / "prepared" / "rejected.jsonl")
    assert len(prepared) + len(dropped) == len(records) and prepared
    assert {r["id"]: r["synth"] for r in prepared} == {r["id"]: r["synth"] for r in records if r["id"] in
                                                       {p["id"] for p in prepared}}


def test_a_killed_run_resumes_from_the_cache(tmp_path):
    out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
    with FaultServer(delay=0.15) as server:
        cmd = [sys.executable, "-m", "tunesmith", *_synth_args(server, out, cache, "--concurrency", "2")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.time() + 120
            while len(_cached_keys(cache)) < 8:
                assert proc.poll() is None, proc.communicate()
                assert time.time() < deadline
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert not out.exists()
        done = _cached_keys(cache)
        asked_before = len(server.requests)

        assert main(_synth_args(server, out, cache, "--concurrency", "2")) == 0

    settings = {"temperature": 0.7, "max_tokens": 512}
    again = [cache_key(MODEL, b["messages"], settings) for b in server.requests[asked_before:]]
    assert again and not set(again) & done                       # nothing finished was asked twice
    report = json.loads((tmp_path / "qa.synth.json").read_text())
    assert report["usage"]["cache_hits"] == len(done)
    assert report["records"] + report["rejected"] == report["passages"] == len(done) + len(set(again))


def test_an_endpoint_that_stays_down_stops_the_run_and_a_rerun_finishes_it(tmp_path, capsys):
    out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
    with FaultServer() as server:
        server.down = True
        assert main(_synth_args(server, out, cache, "backend.max_retries=1", "stop_after_failures=2",
                                "--concurrency", "1")) == 1
        err = capsys.readouterr().err
        assert "2 passages failed after every retry" in err and "run the same command again" in err
        report = json.loads((tmp_path / "qa.synth.json").read_text())
        assert report["failed"] == 2 and report["records"] == 0 and report["not_attempted"] == report["passages"] - 2
        assert {r["reason"] for r in _read_jsonl(tmp_path / "qa.rejects.jsonl")} == {"llm_failed"}
        assert report["usage"]["retry_reasons"] == {"http 503": 2}

        server.down = False                                  # back up: the same command finishes the job
        assert main(_synth_args(server, out, cache, "stop_after_failures=2", "--concurrency", "1")) == 0
        report = json.loads((tmp_path / "qa.synth.json").read_text())
        assert report["failed"] == 0 and report["records"] + report["rejected"] == report["passages"]


def test_answers_and_api_key(tmp_path, capsys, monkeypatch):
    out, cache = tmp_path / "qa.jsonl", tmp_path / "cache.sqlite"
    with FaultServer(api_key="sk-test") as server:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        assert main(_synth_args(server, out, cache)) == 2          # 401 is not retried: it cannot help
        err = capsys.readouterr().err
        assert "HTTP 401" in err and "api_key_env" in err
        monkeypatch.setenv("SYNTH_KEY", "sk-test")
        assert main(_synth_args(server, out, cache, "--answers", "passage_as_input=true",
                                "backend.api_key_env=SYNTH_KEY", "--model", MODEL)) == 0
    records = _read_jsonl(out)
    assert records
    for r in records:
        assert r["input"] == r["synth"]["passage"]
        assert r["output"] == _head(r["synth"]["passage"])          # the "Answer: " prefix cleaned off
