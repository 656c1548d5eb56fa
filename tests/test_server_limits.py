"""What one client may cost `serve`, on a real server on 127.0.0.1: body size, slow senders, connection
floods, abandoned non-streaming requests, tokenizing off the loop, strict types, and 400s (not 500s)
for lone surrogates, huge seeds and absurd penalties; /docs and /openapi.json behind the key."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from run_factory import make_run
from tunesmith.infer.limits import Limits
from tunesmith.infer.server import RunningServer, bind, create_app
from tunesmith.infer.target import open_target

LIMITS = Limits(max_body_bytes=200_000, header_timeout_s=1.0, body_timeout_s=1.0, max_connections=40)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return open_target(make_run(tmp_path_factory.mktemp("limits") / "tiny-run", "lora"))


@pytest.fixture(scope="module")
def server(target):
    running = RunningServer(create_app(target, max_tokens=12, limits=LIMITS), bind("127.0.0.1", 0), LIMITS).start()
    yield running
    running.stop()


def url(server, path="/v1/chat/completions") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def chat(target, **extra) -> dict:
    return {"model": target.name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, **extra}


def assert_healthy(server):
    assert httpx.get(url(server, "/health"), timeout=10).json()["status"] == "ok"


# -- 400s in OpenAI's shape ------------------------------------------------------------------------

@pytest.mark.parametrize("raw,words", [
    ('"messages": [{"role": "user", "content": "a\\ud800b"}]', "lone surrogate"),
    ('"messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]', "lone surrogate"),
    ('"messages": [{"role": "user", "content": "hi"}], "seed": 18446744073709551616', "seed"),
    ('"messages": [{"role": "user", "content": "hi"}], "seed": 9223372036854775808', "seed"),
    ('"messages": [{"role": "user", "content": "hi"}], "repetition_penalty": 1e300', "repetition_penalty"),
    ('"messages": [{"role": "user", "content": "hi"}], "repetition_penalty": Infinity', "repetition_penalty"),
    ('"messages": [{"role": "user", "content": "hi"}], "stream": "yes"', "stream"),
    ('"messages": [{"role": "user", "content": "hi"}], "stream": 1', "stream"),
    ('"messages": [{"role": "user", "content": "hi"}], "max_tokens": true', "max_tokens"),
    ('"messages": [{"role": "user", "content": "hi"}], "max_tokens": "3"', "max_tokens"),
    ('"messages": [{"role": "user", "content": "hi"}], "logprobs": "true"', "logprobs"),
])
def test_bad_values_are_a_400_in_openai_shape(server, target, raw, words):
    body = f'{{"model": {json.dumps(target.name)}, {raw}}}'
    r = httpx.post(url(server), content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert words in error["message"] and error["type"] == "invalid_request_error"
    assert_healthy(server)


def test_a_lone_surrogate_in_a_raw_prompt_is_a_400(server, target):
    body = f'{{"model": {json.dumps(target.name)}, "prompt": "x\\ud83d", "max_tokens": 2}}'
    r = httpx.post(url(server, "/v1/completions"), content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "lone surrogate" in r.json()["error"]["message"]


def test_values_in_range_still_pass(server, target):
    for extra in ({"seed": 2 ** 63 - 1, "temperature": 1}, {"seed": -5, "temperature": 1},
                  {"repetition_penalty": 1.3, "stream": False}, {"max_tokens": 1}):
        r = httpx.post(url(server), json=chat(target, **extra), timeout=60)
        assert r.status_code == 200, (extra, r.text)
    paired = '{"model": %s, "messages": [{"role": "user", "content": "\\ud83d\\ude00"}], "max_tokens": 1}'
    r = httpx.post(url(server), content=paired % json.dumps(target.name), headers={"Content-Type": "application/json"})
    assert r.status_code == 200  # a valid surrogate pair is an emoji, not an error


# -- body size and slow clients ----------------------------------------------------------------------

def test_a_body_past_the_limit_is_a_413_and_health_stays_quick(server, target):
    big = chat(target, messages=[{"role": "user", "content": "word " * 100_000}])
    r = httpx.post(url(server), json=big, timeout=30)
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit counts what arrives
        yield b'{"model": "x", "messages": [{"role": "user", "content": "'
        for _ in range(50):
            yield b"a" * 10_000
        yield b'"}]}'
    r = httpx.post(url(server), content=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413
    assert_healthy(server)


def test_tokenizing_a_long_prompt_does_not_stall_the_loop(server, target, monkeypatch):
    import tunesmith.infer.server as server_module

    slow = threading.Event()

    def slow_encode(tokenizer, text):
        slow.set()
        time.sleep(2.0)  # a long prompt's tokenizing, as the loop would feel it
        return [1, 2, 3]

    monkeypatch.setattr(server_module, "encode_prompt", slow_encode)
    body = {"model": target.name, "prompt": "x", "max_tokens": 1}
    worker = threading.Thread(target=lambda: httpx.post(url(server, "/v1/completions"), json=body, timeout=30))
    worker.start()
    assert slow.wait(10)
    start = time.monotonic()
    assert_healthy(server)
    assert time.monotonic() - start < 1.0
    worker.join()


def test_a_slow_header_sender_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(LIMITS.header_timeout_s + 5)
        start = time.monotonic()
        assert s.recv(100) == b""  # closed by the server
        assert time.monotonic() - start < LIMITS.header_timeout_s + 3


def test_a_slow_body_sender_gets_a_408(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"model\"")
        s.settimeout(LIMITS.body_timeout_s + 5)
        reply = b""
        while chunk := s.recv(1000):  # until the server closes the connection
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply


def test_a_flood_of_idle_connections_does_not_lock_out_a_client(server, target):
    flood = []
    try:
        for _ in range(LIMITS.max_connections * 2):
            flood.append(socket.create_connection(("127.0.0.1", server.port)))
            flood[-1].sendall(b"GET /health HTTP/1.1\r\n")  # never finishes its headers
        r = httpx.post(url(server), json=chat(target), timeout=30)
        assert r.status_code == 200
    finally:
        for s in flood:
            s.close()


# -- abandoned requests ---------------------------------------------------------------------------------

def test_non_streaming_clients_that_leave_cancel_their_generation(server, target):
    # Each token takes 20 ms here: the abandoned answers (up to the context, ~1000 tokens each) would keep
    # the worker busy for a minute if they ran to the end.
    hook = target.model.get_input_embeddings().register_forward_pre_hook(lambda module, args: time.sleep(0.02))
    try:
        body = chat(target, max_tokens=4000, temperature=0, messages=[{"role": "user", "content": "A long story"}])
        for _ in range(3):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url(server), json=body, timeout=httpx.Timeout(5, read=0.5))
        start = time.monotonic()
        r = httpx.post(url(server), json=chat(target), timeout=120)
        assert r.status_code == 200
        assert time.monotonic() - start < 10, time.monotonic() - start
    finally:
        hook.remove()


# -- docs behind the key -------------------------------------------------------------------------------

def test_docs_and_openapi_need_the_key(target):
    running = RunningServer(create_app(target, api_key="k3y"), bind("127.0.0.1", 0)).start()
    try:
        base = f"http://127.0.0.1:{running.port}"
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert httpx.get(base + path).status_code == 401, path
        assert httpx.get(base + "/openapi.json", headers={"Authorization": "Bearer k3y"}).status_code == 200
        assert httpx.get(base + "/health").status_code == 200
    finally:
        running.stop()
