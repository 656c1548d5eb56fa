"""The server as clients that follow OpenAI's API closely expect it: model retrieval, error shapes,
the developer role, null assistant content, token counts of the returned text, CORS, logprobs, and
JSON answers under a grammar. A real server on 127.0.0.1, driven by `openai`, `langchain-openai`
and raw HTTP."""

import json

import httpx
import jsonschema
import openai
import pytest
import torch

from run_factory import make_run
from tunesmith.infer.server import RunningServer, bind, create_app
from tunesmith.infer.target import open_target

ASK = [{"role": "user", "content": "What is the sea?"}]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return open_target(make_run(tmp_path_factory.mktemp("srv") / "tiny-run", "lora"))


@pytest.fixture(scope="module")
def server(target):
    running = RunningServer(create_app(target, max_tokens=12), bind("127.0.0.1", 0)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def base(server):
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def client(base):
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)


# -- models and error shapes -----------------------------------------------------------------------

def test_a_model_is_retrieved_by_its_id(client, target):
    assert client.models.retrieve(target.name).id == target.name
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


@pytest.mark.parametrize("method,path,status", [("GET", "/v1/nothing-here", 404), ("GET", "/nowhere", 404),
                                                ("GET", "/v1/chat/completions", 405),
                                                ("DELETE", "/v1/models", 405)])
def test_every_error_has_openais_shape(base, method, path, status):
    r = httpx.request(method, f"{base}{path}")
    assert r.status_code == status
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and path in error["message"]


# -- messages ---------------------------------------------------------------------------------------

def test_developer_is_the_system_role(client, target):
    def answer(role):
        return client.chat.completions.create(model=target.name, temperature=0, max_tokens=8, messages=[
            {"role": role, "content": "You are terse."}, *ASK]).choices[0].message.content

    assert answer("developer") == answer("system")
    assert answer("system") != client.chat.completions.create(model=target.name, temperature=0, max_tokens=8,
                                                              messages=ASK).choices[0].message.content


def test_an_assistant_turn_with_null_content_is_an_empty_turn(base, target):
    def ask(content):
        return httpx.post(f"{base}/v1/chat/completions", timeout=60, json={
            "model": target.name, "temperature": 0, "max_tokens": 6,
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": content},
                         {"role": "user", "content": "And?"}]})

    r = ask(None)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == ask("").json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("messages,param", [
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": 5}, {"role": "user", "content": "x"}],
     "messages.1.content"),
    ([{"role": "user", "content": None}], "messages.0"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}], "messages.0.content.0.type"),
])
def test_params_are_named_as_openai_names_them(base, target, messages, param):
    r = httpx.post(f"{base}/v1/chat/completions", json={"model": target.name, "messages": messages})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param, r.json()


# -- usage ------------------------------------------------------------------------------------------

def test_completion_tokens_count_the_returned_text_only(client, target):
    from tunesmith.infer.generate import Generation, Sampling
    from tunesmith.text.spm import encode_prompt

    tok = target.tokenizer
    gen = Generation(target.model, tok, encode_prompt(tok, "a b c"), Sampling(max_new_tokens=12), target.stop_ids)
    full = "".join(gen)
    ids = gen.completion.token_ids
    whole = client.completions.create(model=target.name, prompt="a b c", max_tokens=12, temperature=0)
    assert whole.choices[0].text == full and whole.usage.completion_tokens == gen.completion.completion_tokens
    # A stop string that starts one character into a token: the answer ends before it, and that token
    # and every later one are generated but not returned, so not counted.
    prefixes = [tok.decode(ids[:k], skip_special_tokens=True) for k in range(len(ids) + 1)]
    k = next(k for k in range(2, len(ids)) if len(prefixes[k + 1]) - len(prefixes[k]) >= 3)
    stop = full[len(prefixes[k]) + 1:len(prefixes[k]) + 3]
    cut = client.completions.create(model=target.name, prompt="a b c", max_tokens=12, temperature=0, stop=[stop])
    returned = cut.choices[0].text
    assert returned == full[:full.index(stop)] and cut.choices[0].finish_reason == "stop"
    assert cut.usage.completion_tokens == max(n for n, p in enumerate(prefixes) if returned.startswith(p))
    assert cut.usage.completion_tokens < len(ids)


def test_the_end_token_is_not_a_completion_token(target):
    from tunesmith.records.example import Example
    from tunesmith.infer.generate import Generation, Sampling

    gen = Generation(target.model, target.tokenizer, target.prompt_ids(Example.single("Hi", "")),
                     Sampling(max_new_tokens=200), target.stop_ids)
    text = "".join(gen)
    c = gen.completion
    if c.token_ids[-1] in target.stop_ids:
        assert c.completion_tokens == len(c.token_ids) - 1
    assert target.tokenizer.decode(c.token_ids[:c.completion_tokens], skip_special_tokens=True) == text


# -- CORS -------------------------------------------------------------------------------------------

def test_cors_preflight_needs_no_key_and_only_named_origins_pass(target):
    running = RunningServer(create_app(target, api_key="k3y", cors_origins=("http://app.example",)),
                            bind("127.0.0.1", 0)).start()
    try:
        url = f"http://127.0.0.1:{running.port}/v1/chat/completions"
        preflight = {"access-control-request-method": "POST",
                     "access-control-request-headers": "authorization,content-type"}
        ok = httpx.options(url, headers={"origin": "http://app.example", **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://app.example"
        other = httpx.options(url, headers={"origin": "http://evil.example", **preflight})
        assert "access-control-allow-origin" not in other.headers
        assert httpx.post(url, json={}, headers={"origin": "http://app.example"}).status_code == 401
        body = {"model": target.name, "messages": ASK, "max_tokens": 2}
        r = httpx.post(url, json=body, headers={"origin": "http://app.example", "authorization": "Bearer k3y"},
                       timeout=60)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"
    finally:
        running.stop()


def test_no_origin_is_allowed_by_default(base):
    r = httpx.options(f"{base}/v1/chat/completions", headers={"origin": "http://app.example",
                                                              "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers


# -- logprobs ---------------------------------------------------------------------------------------

def test_chat_logprobs_are_the_models_own(client, target):
    reply = client.chat.completions.create(model=target.name, temperature=0, max_tokens=8, messages=ASK,
                                           logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    from tunesmith.records.example import Example

    prompt = target.prompt_ids(Example.single("What is the sea?", ""))
    answer = target.tokenizer(reply.choices[0].message.content, add_special_tokens=False).input_ids
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logits = target.model(input_ids=ids).logits[0].float().log_softmax(-1)
    first = content[0]
    want = logits[len(prompt) - 1]
    assert first.logprob == pytest.approx(float(want.max()), abs=1e-4)  # greedy: the best token
    assert [t.logprob for t in first.top_logprobs] == pytest.approx(want.topk(3).values.tolist(), abs=1e-4)
    assert first.top_logprobs[0].token == first.token


def test_streamed_logprobs_add_up_to_the_whole(client, target):
    ask = dict(model=target.name, temperature=0, max_tokens=10, messages=ASK, logprobs=True, top_logprobs=2)
    whole = client.chat.completions.create(**ask).choices[0].logprobs.content
    chunks = list(client.chat.completions.create(**ask, stream=True))
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert [(t.token, round(t.logprob, 5)) for t in streamed] == [(t.token, round(t.logprob, 5)) for t in whole]


def test_top_logprobs_without_logprobs_is_a_400(base, target):
    r = httpx.post(f"{base}/v1/chat/completions", json={"model": target.name, "messages": ASK, "top_logprobs": 2})
    assert r.status_code == 400 and "needs logprobs" in r.json()["error"]["message"]


# -- JSON answers -----------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"mood": {"enum": ["happy", "sad"]}, "ok": {"type": "boolean"}},
          "required": ["mood", "ok"], "additionalProperties": False}


def test_json_schema_answers_validate(client, target):
    for seed in range(3):
        reply = client.chat.completions.create(
            model=target.name, messages=ASK, max_tokens=40, temperature=1.0, seed=seed,
            response_format={"type": "json_schema", "json_schema": {"name": "mood", "schema": SCHEMA}})
        assert reply.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(reply.choices[0].message.content), SCHEMA)


def test_json_object_answers_stay_valid_json_token_by_token(client, target):
    import xgrammar as xgr

    reply = client.chat.completions.create(model=target.name, messages=ASK, max_tokens=30, temperature=0,
                                           response_format={"type": "json_object"})
    text = reply.choices[0].message.content
    assert text.startswith("{")
    # Whether or not 30 tokens were enough to finish it, every character is a valid JSON prefix.
    matcher = xgr.GrammarMatcher(xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(
        target.tokenizer, vocab_size=target.model.config.vocab_size)).compile_builtin_json_grammar())
    assert matcher.accept_string(text)
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_a_bad_schema_is_a_400_naming_it(base, target):
    r = httpx.post(f"{base}/v1/chat/completions", json={
        "model": target.name, "messages": ASK,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such"}}}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "response_format.json_schema.schema"


def test_langchain_structured_output(base, target):
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel
    from typing import Literal

    class Mood(BaseModel):
        mood: Literal["happy", "sad"]
        ok: bool

    llm = ChatOpenAI(base_url=f"{base}/v1", api_key="unused", model=target.name, max_retries=0, temperature=0,
                     max_tokens=40)
    got = llm.with_structured_output(Mood, method="json_schema").invoke("How are you?")
    assert isinstance(got, Mood)


def test_tools_are_refused_with_a_clear_message(base, target):
    r = httpx.post(f"{base}/v1/chat/completions", json={
        "model": target.name, "messages": ASK,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})
    assert r.status_code == 400 and "tools (function calling) are not supported" in r.json()["error"]["message"]
