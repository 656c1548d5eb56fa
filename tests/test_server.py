"""The OpenAI-compatible server, started for real on a free loopback port and driven by the official
`openai` client (and raw HTTP for requests no client would send)."""

import threading

import httpx
import openai
import pytest

from run_factory import make_run
from tunesmith.records.example import Example
from tunesmith.errors import TunesmithError
from tunesmith.infer.generate import Generation, Sampling
from tunesmith.infer.server import RunningServer, bind, create_app
from tunesmith.infer.target import open_target


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return open_target(make_run(tmp_path_factory.mktemp("srv") / "tiny-run", "lora"))


@pytest.fixture(scope="module")
def server(target):
    running = RunningServer(create_app(target, max_tokens=12), bind("127.0.0.1", 0)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused", max_retries=0, timeout=60)


def _direct(target, question, max_tokens):
    gen = Generation(target.model, target.tokenizer, target.prompt_ids(Example.single(question, "")),
                     Sampling(max_new_tokens=max_tokens, temperature=0.0), target.stop_ids)
    return "".join(gen), gen.completion


def test_models(client, target):
    assert [m.id for m in client.models.list().data] == [target.name]


def test_chat_answers_like_the_library_streaming_or_not(client, target):
    want, completion = _direct(target, "What is the sea?", 10)
    reply = client.chat.completions.create(model=target.name, temperature=0, max_tokens=10,
                                           messages=[{"role": "user", "content": "What is the sea?"}])
    assert reply.choices[0].message.content == want
    assert reply.choices[0].finish_reason == completion.finish_reason
    assert reply.usage.prompt_tokens == completion.prompt_tokens
    assert reply.usage.completion_tokens == completion.completion_tokens

    chunks = list(client.chat.completions.create(model=target.name, temperature=0, max_tokens=10, stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "What is the sea?"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == want
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == completion.finish_reason
    assert chunks[-1].usage.completion_tokens == completion.completion_tokens


def test_completions_streaming_or_not(client, target):
    reply = client.completions.create(model=target.name, prompt="Once upon a time", max_tokens=8, temperature=0)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=target.name, prompt="Once upon a time", max_tokens=8, temperature=0, stream=True))
    assert reply.choices[0].text == streamed
    assert reply.usage.prompt_tokens == len(target.tokenizer("Once upon a time").input_ids)


def test_a_raw_prompt_is_read_like_the_training_text(target):
    """BOS, special-token strings as tokens, the text between them as training rendered it."""
    from tunesmith.text.spm import encode_plain, encode_prompt

    tok = target.tokenizer
    plain = lambda text: encode_plain(tok, text)  # noqa: E731
    assert encode_prompt(tok, "Once upon a time") == [tok.bos_token_id] + plain("Once upon a time")
    assert encode_prompt(tok, "Q: hi</s>A:") == [tok.bos_token_id] + plain("Q: hi") + [tok.eos_token_id] + plain("A:")
    assert encode_prompt(tok, "") == [tok.bos_token_id]


def test_concurrent_requests_are_served_one_at_a_time_correctly(client, target):
    questions = [f"Question number {i}?" for i in range(6)]
    expected = {q: _direct(target, q, 6)[0] for q in questions}
    got, errors = {}, []

    def ask(q):
        try:
            r = client.chat.completions.create(model=target.name, temperature=0, max_tokens=6,
                                               messages=[{"role": "user", "content": q}])
            got[q] = r.choices[0].message.content
        except Exception as e:  # collected: assertion below shows it
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == expected


def test_sampling_with_seed_is_reproducible(client, target):
    ask = dict(model=target.name, temperature=1.0, top_p=0.9, seed=7, max_tokens=8,
               messages=[{"role": "user", "content": "Say something."}])
    first = client.chat.completions.create(**ask).choices[0].message.content
    assert client.chat.completions.create(**ask).choices[0].message.content == first


def test_stop_strings_cut_the_answer(client, target):
    full = client.completions.create(model=target.name, prompt="a b c", max_tokens=12, temperature=0).choices[0].text
    assert len(full) > 3
    stop = full[2:4]
    cut = client.completions.create(model=target.name, prompt="a b c", max_tokens=12, temperature=0, stop=[stop])
    assert cut.choices[0].text == full[:full.index(stop)] and cut.choices[0].finish_reason == "stop"


def test_prompt_longer_than_the_context_is_a_clear_400(client, target):
    long = "hello " * (target.context + 10)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=target.name, messages=[{"role": "user", "content": long}])
    assert info.value.code == "context_length_exceeded"
    assert f"context is {target.context} tokens" in info.value.message


@pytest.mark.parametrize("body,status,words", [
    (b"{not json", 400, "not valid JSON"),
    ({"model": "M"}, 400, "messages: Field required"),
    ({"model": "M", "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}], "n": 2}, 400, "only n=1"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}], "temperature": 5}, 400, "temperature"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}], "temprature": 1}, 400, "temprature"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}], "frequency_penalty": 1}, 400,
     "repetition_penalty"),
    ({"model": "M", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}, 400,
     "last message must come from the user"),
    ({"model": "M", "messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}, 400,
     "turn 1 is 'assistant'"),
    ({"model": "other-model", "messages": [{"role": "user", "content": "x"}]}, 404, "does not exist here"),
])
def test_bad_requests_get_4xx_and_the_server_lives_on(server, target, body, status, words):
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    if isinstance(body, dict) and body.get("model") == "M":
        body = {**body, "model": target.name}
    r = (httpx.post(url, content=body, headers={"content-type": "application/json"}) if isinstance(body, bytes)
         else httpx.post(url, json=body))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert words in error["message"] and error["type"] == "invalid_request_error"
    assert httpx.get(f"http://127.0.0.1:{server.port}/health").json()["status"] == "ok"


def test_a_client_that_leaves_mid_stream_does_not_block_the_next(client, server, target):
    url = f"http://127.0.0.1:{server.port}/v1/completions"
    body = {"model": target.name, "prompt": "Long story:", "max_tokens": 400, "stream": True, "temperature": 0}
    with httpx.stream("POST", url, json=body, timeout=60) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i >= 2:
                break  # hang up after the first pieces
    reply = client.completions.create(model=target.name, prompt="Next:", max_tokens=4, temperature=0)
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_api_key(target):
    running = RunningServer(create_app(target, api_key="s3cret"), bind("127.0.0.1", 0)).start()
    try:
        base = f"http://127.0.0.1:{running.port}"
        wrong = openai.OpenAI(base_url=f"{base}/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        assert httpx.get(f"{base}/v1/models").status_code == 401
        right = openai.OpenAI(base_url=f"{base}/v1", api_key="s3cret", max_retries=0)
        assert right.models.list().data[0].id == target.name
        assert httpx.get(f"{base}/health").status_code == 200  # liveness needs no key
    finally:
        running.stop()


def test_port_in_use_is_a_clear_error(server):
    with pytest.raises(TunesmithError, match=f"port {server.port} on 127.0.0.1 is already in use") as info:
        bind("127.0.0.1", server.port)
    assert "--port" in info.value.hint


class _Broken:
    """The target's model, except that generation fails."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, **kwargs):
        raise RuntimeError("boom")


def test_a_failing_generation_is_a_500_for_that_request_only(target):
    from dataclasses import replace

    running = RunningServer(create_app(replace(target, model=_Broken(target.model))), bind("127.0.0.1", 0)).start()
    try:
        base = f"http://127.0.0.1:{running.port}"
        body = {"model": target.name, "messages": [{"role": "user", "content": "x"}], "max_tokens": 3}
        r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60)
        assert r.status_code == 500 and "generation failed: RuntimeError: boom" in r.json()["error"]["message"]
        streamed = httpx.post(f"{base}/v1/chat/completions", json={**body, "stream": True}, timeout=60).text
        assert "RuntimeError: boom" in streamed and streamed.rstrip().endswith("data: [DONE]")
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
    finally:
        running.stop()
