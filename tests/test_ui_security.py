"""`tunesmith ui` against a hostile page or request, on a real server on 127.0.0.1: the token, the Host
check (DNS rebinding), Origin on state-changing requests, JSON-only bodies, paths confined to the root
(`../`, absolute, `~`, symlinks, `%2F`), launch never overwriting a file that is not a run's, and
`trust_remote_code` refused."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "tests" / "data" / "prepare" / "raw.jsonl"
TOKEN = "t0ken-for-tests-" + "x" * 16
SECRET = '{"instruction": "secret outside the root", "output": "do not show"}\n'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    from tunesmith.testing import tiny_llama
    from tunesmith.ui.app import create_app

    base = tmp_path_factory.mktemp("ui-security")
    root, outside = base / "root", base / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(RAW, root / "data" / "raw.jsonl")
    (outside / "secret.jsonl").write_text(SECRET, encoding="utf-8")
    (outside / "run").mkdir()
    (outside / "run" / "config.yaml").write_text("output_dir: run\n", encoding="utf-8")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "docker-compose.yaml").write_text("services: {}\n", encoding="utf-8")
    tiny_llama(root / "tiny-llama")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        srv = uvicorn.Server(uvicorn.Config(create_app(root, token=TOKEN), host="127.0.0.1", port=port,
                                            log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not srv.started:
            assert time.monotonic() < deadline, "the ui server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root, outside
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def url(served):
    return served[0]


def authed(**headers) -> dict:
    return {"Authorization": f"token {TOKEN}", **headers}


# -- the token -------------------------------------------------------------------------------------

def test_without_the_token_nothing_but_static_files_answers(url):
    for path in ("/", "/api/info", "/api/data/suggest", "/api/docs", "/openapi.json"):
        r = httpx.get(url + path)
        assert r.status_code == 403, path
    assert httpx.get(url + "/api/info", headers={"Authorization": "token wrong"}).status_code == 403
    assert httpx.get(url + "/api/info", params={"token": "wrong"}).status_code == 403
    r = httpx.post(url + "/api/train/stop", json={"dir": "runs/x"})
    assert r.status_code == 403 and "token" in r.json()["error"]
    assert httpx.get(url + "/static/util.js").status_code == 200  # the page's own code, nothing of the user's


def test_the_token_in_the_url_sets_a_cookie_and_leaves_the_address_bar(url):
    r = httpx.get(url + "/", params={"token": TOKEN})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert TOKEN in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    name = cookie.split("=", 1)[0]
    with httpx.Client(base_url=url, cookies={name: TOKEN}) as browser:
        assert browser.get("/").status_code == 200
        assert browser.get("/api/info").json()["root"]
    assert httpx.get(url + "/api/info", headers=authed()).status_code == 200
    assert httpx.get(url + "/api/info", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(url + "/api/info", params={"token": TOKEN}).status_code == 200


# -- Host, Origin, content type ---------------------------------------------------------------------

@pytest.mark.parametrize("host", ["attacker.example:7860", "attacker.example", "127.0.0.1.attacker.example",
                                  "10.0.0.5:7860"])
def test_a_rebinding_host_is_refused_even_with_the_token(url, host):
    r = httpx.get(url + "/api/data/suggest", headers=authed(Host=host))
    assert r.status_code == 403 and "Host" in r.json()["error"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:7860", "[::1]:7860", "LOCALHOST:1"])
def test_loopback_hosts_are_taken(url, host):
    assert httpx.get(url + "/api/info", headers=authed(Host=host)).status_code == 200


def test_a_foreign_origin_cannot_change_state(url):
    for origin in ("http://attacker.example", "null", "http://localhost:1"):
        r = httpx.post(url + "/api/train/stop", json={"dir": "runs/none"}, headers=authed(Origin=origin))
        assert r.status_code == 403 and "Origin" in r.json()["error"], origin
    own = httpx.post(url + "/api/train/stop", json={"dir": "runs/none"}, headers=authed(Origin=url))
    assert own.status_code == 400 and "not running" in own.json()["error"]  # through to the route


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                  None])
def test_state_changing_bodies_must_be_json(url, kind):
    headers = authed(**({"Content-Type": kind} if kind else {}))
    r = httpx.post(url + "/api/train/stop", content=json.dumps({"dir": "runs/none"}), headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    ok = httpx.post(url + "/api/train/stop", content=json.dumps({"dir": "runs/none"}),
                    headers=authed(**{"Content-Type": "application/json; charset=utf-8"}))
    assert ok.status_code == 400


# -- paths stay in the root --------------------------------------------------------------------------

OUTSIDE = ["../outside/secret.jsonl", "data/../../outside/secret.jsonl", "link/secret.jsonl", "~/secret.jsonl",
           "..%2Foutside%2Fsecret.jsonl"]


@pytest.mark.parametrize("path", OUTSIDE + ["ABSOLUTE"])
@pytest.mark.parametrize("route", ["open", "records", "report"])
def test_data_paths_outside_the_root_are_refused(served, route, path):
    url, root, outside = served
    path = str(outside / "secret.jsonl") if path == "ABSOLUTE" else path
    query = f"path={path}" if "%2F" in path else httpx.QueryParams({"path": path})
    r = httpx.get(f"{url}/api/data/{route}?{query}", headers=authed())
    assert r.status_code == 400 and "secret outside" not in r.text
    if not path.startswith("~"):
        assert "outside the ui root" in r.json()["error"]
    assert httpx.get(f"{url}/api/data/open", params={"path": "data/raw.jsonl"}, headers=authed()).status_code == 200


def test_suggestions_never_list_what_a_link_out_of_the_root_holds(served):
    url, root, outside = served
    paths = httpx.get(url + "/api/data/suggest", headers=authed()).json()["paths"]
    assert "data/raw.jsonl" in paths and not any(p.startswith("link") for p in paths)


def test_render_tokenizer_and_chat_target_outside_the_root_are_refused(served):
    url, root, outside = served
    body = {"path": "data/raw.jsonl", "index": 0, "template": "llama2", "tokenizer": str(outside)}
    r = httpx.post(url + "/api/data/render", json=body, headers=authed())
    assert r.status_code == 400 and r.json()["field"] == "tokenizer" and "outside" in r.json()["error"]
    with httpx.stream("POST", url + "/api/chat/stream", headers=authed(),
                      json={"target": "link", "messages": [{"role": "user", "content": "hi"}]}) as r:
        text = r.read().decode()
    assert "event: error" in text and "outside the ui root" in text


@pytest.mark.parametrize("where", ["../outside/run", "link/run", "ABSOLUTE", "."])
def test_run_actions_outside_the_root_are_refused(served, where):
    url, root, outside = served
    where = str(outside / "run") if where == "ABSOLUTE" else where
    for action in ("stop", "resume"):
        r = httpx.post(f"{url}/api/train/{action}", json={"dir": where}, headers=authed())
        assert r.status_code == 400 and r.json()["field"] == "run", (action, r.text)
    r = httpx.get(f"{url}/api/train/run", params={"dir": where}, headers=authed())
    assert r.status_code == 400


def form(url, **changes) -> dict:
    schema = httpx.get(url + "/api/train/schema", headers=authed()).json()
    values = {f["key"]: f["default"] for s in schema["sections"] for f in s["fields"]}
    values.update({"model.path": "tiny-llama", "data.train": "data/raw.jsonl", "template.name": "llama2",
                   "output_dir": "runs/sec-1"})
    values.update({k.replace("__", "."): v for k, v in changes.items()})
    return values


@pytest.mark.parametrize("key,value", [("output_dir", "../outside/run2"), ("output_dir", "link/run3"),
                                       ("output_dir", "."), ("output_dir", "ABSOLUTE"),
                                       ("data.train", "link/secret.jsonl"), ("model.path", "../outside")])
def test_launch_refuses_paths_outside_the_root(served, key, value):
    url, root, outside = served
    value = str(outside / "run4") if value == "ABSOLUTE" else value
    r = httpx.post(url + "/api/train/launch", json={"values": form(url, **{key: value})}, headers=authed())
    assert r.status_code == 400 and r.json()["field"] == key, r.text
    assert sorted(p.name for p in outside.iterdir()) == ["run", "secret.jsonl"]  # nothing written out there
    v = httpx.post(url + "/api/train/validate", json={"values": form(url, **{key: value}), "estimate": False},
                   headers=authed()).json()
    assert not v["ok"] and key in v["errors"]


def test_launch_never_overwrites_a_file_that_is_not_a_runs(served):
    url, root, outside = served
    before = (root / "docker-compose.yaml").read_bytes()
    for overwrite in (False, True):
        r = httpx.post(url + "/api/train/launch", headers=authed(),
                       json={"values": form(url, output_dir="docker-compose"), "overwrite": overwrite})
        assert r.status_code == 400 and r.json()["field"] == "output_dir" and "not a run's" in r.json()["error"]
    assert (root / "docker-compose.yaml").read_bytes() == before
    assert not (root / "docker-compose.log").exists() and not (root / "docker-compose.ui.json").exists()


def test_trust_remote_code_is_refused_in_the_form_and_on_resume(served):
    url, root, outside = served
    r = httpx.post(url + "/api/train/launch", json={"values": form(url, model__trust_remote_code="true")},
                   headers=authed())
    assert r.status_code == 400 and r.json()["field"] == "model.trust_remote_code"
    run = root / "runs" / "planted"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: {path: tiny-llama, trust_remote_code: true}\n"
                                     "data: {train: [data/raw.jsonl]}\noutput_dir: runs/planted\n", encoding="utf-8")
    r = httpx.post(url + "/api/train/resume", json={"dir": "runs/planted"}, headers=authed())
    assert r.status_code == 400 and "trust_remote_code" in r.json()["error"]
    assert not (root / "runs" / "planted.log").exists()  # nothing was started
