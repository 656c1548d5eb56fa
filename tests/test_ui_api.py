"""`tunesmith ui` server: the Data, Train and Chat APIs against real data, a real `data prepare` output,
real training processes on the tiny model, and streamed answers (tests/test_ui_browser.py drives
the same server from a browser)."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "tests" / "data" / "prepare" / "raw.jsonl"
EXAMPLE = ROOT / "examples" / "prepare.yaml"


def make_workspace(root: Path) -> Path:
    """What a user has before opening the UI: raw data, its `data prepare` output, a model folder."""
    from tunesmith.prepare.pipeline import prepare
    from tunesmith.prepare.config import load_config
    from tunesmith.testing import tiny_llama

    (root / "data").mkdir(parents=True)
    shutil.copy(RAW, root / "data" / "raw.jsonl")
    cfg = load_config(EXAMPLE, [f"inputs=[{root / 'data' / 'raw.jsonl'}]",
                                f"output.path={root / 'prepared' / 'train.jsonl'}"])
    prepare(cfg, progress=False)
    tiny_llama(root / "tiny-llama")
    return root


def authorized(app, **kwargs) -> TestClient:
    """A client as a script of the user's: the app's token in the Authorization header, Host 127.0.0.1."""
    return TestClient(app, base_url="http://127.0.0.1:7860", headers={"Authorization": f"token {app.state.token}"},
                      **kwargs)


def form_values(client, **changes) -> dict:
    schema = client.get("/api/train/schema").json()
    values = {f["key"]: f["default"] for s in schema["sections"] for f in s["fields"]}
    values.update({"model.path": "tiny-llama", "data.train": "prepared/train.jsonl", "template.name": "llama2",
                   "train.micro_batch_size": "2", "train.lr": "5e-3", "output_dir": schema["suggested_output_dir"]})
    values.update({k.replace("__", "."): v for k, v in changes.items()})
    return values


def wait_for(client, run: str, statuses: tuple[str, ...], timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = client.get("/api/train/run", params={"dir": run}).json()
        if detail["status"] in statuses:
            return detail
        time.sleep(0.3)
    raise AssertionError(f"{run} never reached {statuses}: {detail['status']}\n{detail['log']}")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ui-workspace"))


@pytest.fixture(scope="module")
def client(workspace):
    from tunesmith.ui.app import create_app

    # `tunesmith ui` works in its root: runs name their model relative to it (see ui/app.py).
    with pytest.MonkeyPatch.context() as mp, authorized(create_app(workspace)) as c:
        mp.chdir(workspace)
        yield c


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def test_a_data_file_lists_every_record_and_the_unreadable_one_with_its_line(client):
    opened = client.get("/api/data/open", params={"path": "data/raw.jsonl"}).json()
    raw_lines = (RAW.read_text(encoding="utf-8").splitlines())
    assert opened["kind"] == "file" and opened["records"] + opened["bad"] == len(raw_lines)
    assert opened["bad"] == 1
    bad = client.get("/api/data/records", params={"path": "data/raw.jsonl", "q": "broken"}).json()
    assert bad["total"] == 1 and bad["rows"][0]["bad"] and bad["rows"][0]["where"] == "raw.jsonl:8"
    assert "invalid JSON" in bad["rows"][0]["reason"]
    page = client.get("/api/data/records", params={"path": "data/raw.jsonl", "offset": 5, "limit": 5}).json()
    assert page["total"] == len(raw_lines) and [r["index"] for r in page["rows"]] == [5, 6, 7, 8, 9]


def test_a_prepare_folder_shows_kept_rejected_and_the_report(client, workspace):
    opened = client.get("/api/data/open", params={"path": "prepared/"}).json()
    report = json.loads((workspace / "prepared" / "report.json").read_text(encoding="utf-8"))
    assert opened["kind"] == "prepare" and opened["has_report"]
    assert opened["records"] == report["counts"]["kept"] and opened["rejected"] == report["counts"]["rejected"]
    rejected = client.get("/api/data/records", params={"path": "prepared", "which": "rejected", "q": "pii"}).json()
    assert rejected["total"] >= 1 and all(r["step"] == "pii" for r in rejected["rows"])
    assert client.get("/api/data/report", params={"path": "prepared"}).json()["drops"] == report["drops"]
    # Kept records had their phone numbers masked by the pii step: the UI shows the output, not the input.
    kept = client.get("/api/data/records", params={"path": "prepared", "q": "13812345678"}).json()
    assert kept["total"] == 0


def test_render_marks_the_answer_and_end_token_trained_and_the_prompt_masked(client, workspace):
    from transformers import AutoTokenizer

    from tunesmith.records import formats
    from tunesmith.text.render import render
    from tunesmith.text.templates import get_template

    body = {"path": "prepared", "index": 0, "template": "llama2", "tokenizer": "tiny-llama", "max_seq_len": 256}
    r = client.post("/api/data/render", json=body).json()
    example = next(iter(formats.read(workspace / "prepared" / "train.jsonl")))
    tok = AutoTokenizer.from_pretrained(workspace / "tiny-llama")
    expected = render(example, get_template("llama2", tok), tok, max_seq_len=256)
    assert r["tokens"] == len(expected.input_ids) and r["trained"] == expected.trained_tokens
    trained = "".join(s["text"] for s in r["segments"] if s["trained"])
    masked = "".join(s["text"] for s in r["segments"] if not s["trained"])
    assert example.output in trained and trained.rstrip().endswith("</s>")
    assert "[INST]" in masked and example.instruction in masked and example.output not in masked
    assert r["command"].startswith("tunesmith inspect ") and "--template llama2" in r["command"]


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_the_data_tab_starts_with_the_template_a_run_trains_with(client, workspace):
    """One default: the render form starts at TemplateConfig's (auto, the tokenizer's own template), as
    `train` and `inspect` do; with a ChatML model (SmolLM2) the first rendering is ChatML, no [INST]."""
    import re

    from transformers import AutoTokenizer

    from tunesmith.runs.config import TemplateConfig
    from tunesmith.testing import tiny_tokenizer_dir
    from tunesmith.text.templates import TEMPLATE_NAMES, add_chatml_tokens

    run_default = TemplateConfig()
    defaults = client.get("/api/data/defaults").json()
    assert defaults["values"] == {"name": run_default.name, "max_seq_len": run_default.max_seq_len,
                                  "train_on": run_default.train_on, "truncation": run_default.truncation}
    assert defaults["values"]["name"] == "auto" and defaults["choices"]["name"] == list(TEMPLATE_NAMES)
    # The page names no template of its own: it fills the form from /api/data/defaults.
    form = re.search(r'<select id="render-template"[^>]*>(.*?)</select>', client.get("/").text, re.S).group(1)
    assert "<option" not in form

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())  # a ChatML tokenizer, as SmolLM2's is
    add_chatml_tokens(tok)
    tok.chat_template = CHATML
    tok.save_pretrained(workspace / "tiny-chatml")
    shutil.copy(tiny_tokenizer_dir() / "tokenizer.model", workspace / "tiny-chatml" / "tokenizer.model")
    r = client.post("/api/data/render", json={"path": "prepared", "index": 0, "tokenizer": "tiny-chatml"})
    text = "".join(s["text"] for s in r.json()["segments"])
    trained = "".join(s["text"] for s in r.json()["segments"] if s["trained"])
    assert text.startswith("<|im_start|>") and "<|im_end|>" in trained and "[INST]" not in text
    assert "--template auto" in r.json()["command"]
    opened = client.get("/api/data/open", params={"path": "data/raw.jsonl"}).json()
    assert "--template auto" in opened["command"]


@pytest.mark.parametrize("change, field, says", [
    ({"template": "auto"}, "template", "no chat template"),
    ({"tokenizer": "no-such-model"}, "tokenizer", "does not exist"),
    ({"index": 99}, "index", "no record 99"),
    ({"path": "nowhere.jsonl"}, "path", "does not exist"),
    ({"max_seq_len": 12, "truncation": "drop"}, "max_seq_len", "max_seq_len=12"),
])
def test_render_errors_name_the_field(client, change, field, says):
    body = {"path": "prepared", "index": 0, "template": "llama2", "tokenizer": "tiny-llama", **change}
    r = client.post("/api/data/render", json=body)
    assert r.status_code == 400 and r.json()["field"] == field and says in r.json()["error"]


def test_the_server_answers_a_bug_with_a_message_and_keeps_serving(workspace, monkeypatch):
    from tunesmith.ui import data_source
    from tunesmith.ui.app import create_app

    monkeypatch.chdir(workspace)
    client = authorized(create_app(workspace), raise_server_exceptions=False)  # as uvicorn serves it
    monkeypatch.setattr(data_source, "page", lambda *a, **k: 1 / 0)
    r = client.get("/api/data/records", params={"path": "data/raw.jsonl"})
    assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"]
    monkeypatch.undo()
    assert client.get("/api/data/records", params={"path": "data/raw.jsonl"}).status_code == 200


# ---------------------------------------------------------------------------------------------
# Train: the form
# ---------------------------------------------------------------------------------------------

def test_the_form_is_runconfig(client):
    import typing

    from tunesmith.runs.config import RunConfig

    def blocks(section):  # the method block is a union of one options class per method: the form has them all
        annotation = RunConfig.model_fields[section].annotation
        return typing.get_args(annotation) or (annotation,)

    schema = client.get("/api/train/schema").json()
    keys = {f["key"] for s in schema["sections"] for f in s["fields"]}
    expected = {f"{section}.{name}" for section in ("model", "data", "template", "method", "train")
                for block in blocks(section) for name in block.model_fields} | {"output_dir", "seed"}
    assert keys == expected
    method = next(f for s in schema["sections"] for f in s["fields"] if f["key"] == "method.name")
    assert method["kind"] == "choice" and "lora" in method["choices"] and "adalora" in method["choices"]
    objective = next(f for s in schema["sections"] for f in s["fields"] if f["key"] == "train.objective")
    assert objective["main"] and objective["choices"] == ["sft", "dpo", "ipo", "simpo", "orpo"]  # alignment tuning


@pytest.mark.parametrize("changes, field, says", [
    ({"train__lr": "abc"}, "train.lr", "valid number"),
    ({"train__micro_batch_size": "0"}, "train.micro_batch_size", "greater than 0"),
    ({"method__name": "lorra"}, "method.name", "'lora'"),
    ({"data__train": "missing.jsonl"}, "data.train", "not found: missing.jsonl"),
    ({"model__path": "./no-model"}, "model.path", "does not exist"),
    ({"method__name": "prefix", "train__packing": "true"}, "train.packing", "does not work with method.name=prefix"),
    ({"method__name": "adalora", "method__target_r": "16"}, "method.target_r", "above the initial rank"),
])
def test_validation_names_the_field(client, changes, field, says):
    r = client.post("/api/train/validate", json={"values": form_values(client, **changes), "device": "cpu"}).json()
    assert not r["ok"] and says in r["errors"][field], r["errors"]


def test_a_valid_form_gives_the_command_the_yaml_and_the_library_estimate(client, workspace):
    from tunesmith import config
    from tunesmith.commands.train import load_config
    from tunesmith.runs.config import RunConfig
    from tunesmith.train import estimate as est

    values = form_values(client, method__r="4", train__max_steps="7")
    r = client.post("/api/train/validate", json={"values": values, "device": "cpu"}).json()
    assert r["ok"], r["errors"]
    # The command reproduces the form's config exactly, through the CLI's own parsing; so does the YAML.
    argv = shlex.split(r["command"])[2:]
    from_cli = load_config(argparse.Namespace(config=argv[0], overrides=argv[1:]))
    from_yaml = config.validate(RunConfig, yaml.safe_load(r["yaml"]))
    assert from_cli == from_yaml and from_cli.method.r == 4 and from_cli.train.max_steps == 7
    local_model = from_cli.model.model_copy(update={"path": str(workspace / "tiny-llama")})
    expected = est.estimate(from_cli.model_copy(update={"model": local_model}), "cpu")
    assert r["estimate"]["peak"] == expected.peak and r["estimate"]["trainable_params"] == expected.trainable_params
    tight = client.post("/api/train/validate", json={"values": values, "device": "cpu", "memory": "1MiB"}).json()
    assert tight["estimate"]["fits"] is False


# ---------------------------------------------------------------------------------------------
# Train: runs as processes (launch, live metrics, stop with a checkpoint, resume, a crash)
# ---------------------------------------------------------------------------------------------

def test_resume_is_offered_only_with_a_checkpoint_to_resume_from(client, workspace):
    """A run that started (config.yaml) but stopped before any checkpoint: `train --resume` would fail
    with "no checkpoint", so the page gets no resume command and the API refuses with what to do."""
    run = workspace / "runs" / "no-checkpoint"
    run.mkdir(parents=True)
    values = form_values(client, output_dir="runs/no-checkpoint")
    (run / "config.yaml").write_text(client.post("/api/train/validate", json={"values": values}).json()["yaml"],
                                     encoding="utf-8")
    detail = client.get("/api/train/run", params={"dir": "runs/no-checkpoint"}).json()
    assert detail["status"] == "incomplete" and detail["resumable"] is False
    assert detail["commands"]["resume"] is None and detail["commands"]["chat"]
    refused = client.post("/api/train/resume", json={"dir": "runs/no-checkpoint"})
    assert refused.status_code == 400 and refused.json()["field"] == "run"
    assert "no checkpoint to resume from" in refused.json()["error"] and "save_every" in refused.json()["hint"]
    (run / "checkpoints" / "step-3").mkdir(parents=True)  # what Stop leaves (its contents are train's to check)
    resumable = client.get("/api/train/run", params={"dir": "runs/no-checkpoint"}).json()
    assert resumable["status"] == "stopped" and resumable["resumable"] is True
    assert resumable["commands"]["resume"] == "tunesmith train runs/no-checkpoint/config.yaml --resume"
    shutil.rmtree(run)


@pytest.mark.slow
def test_launch_stop_resume(client, workspace):
    values = form_values(client, train__max_steps="400", train__save_every="0", output_dir="runs/long")
    r = client.post("/api/train/launch", json={"values": values})
    assert r.status_code == 200, r.json()
    run = r.json()["dir"]
    assert run == "runs/long" and (workspace / "runs" / "long.yaml").is_file()
    assert client.post("/api/train/launch", json={"values": values}).json()["field"] == "output_dir"  # running

    deadline = time.monotonic() + 240
    while client.get("/api/train/run", params={"dir": run}).json()["step"] < 2:
        assert time.monotonic() < deadline, client.get("/api/train/run", params={"dir": run}).json()["log"]
        time.sleep(0.2)
    assert client.post("/api/train/stop", json={"dir": run}).status_code == 200
    stopped = wait_for(client, run, ("stopped", "failed", "finished"))
    assert stopped["status"] == "stopped" and stopped["checkpoint"] == f"step-{stopped['step']}"
    assert stopped["resumable"] and stopped["commands"]["resume"] == "tunesmith train runs/long/config.yaml --resume"
    assert "interrupted: saved checkpoint" in stopped["log"]
    assert 2 <= stopped["step"] < 400 and stopped["total_steps"] == 400
    assert [x["step"] for x in stopped["records"]] == list(range(1, stopped["step"] + 1))

    # Resume, and stop again once it has moved on: the metrics continue from the checkpoint.
    assert client.post("/api/train/resume", json={"dir": run}).status_code == 200
    first_stop = stopped["step"]
    deadline = time.monotonic() + 240
    while client.get("/api/train/run", params={"dir": run}).json()["step"] < first_stop + 2:
        assert time.monotonic() < deadline, client.get("/api/train/run", params={"dir": run}).json()["log"]
        time.sleep(0.2)
    client.post("/api/train/stop", json={"dir": run})
    again = wait_for(client, run, ("stopped", "failed", "finished"))
    assert again["status"] == "stopped" and again["step"] > first_stop
    assert [x["step"] for x in again["records"]] == list(range(1, again["step"] + 1))
    assert f"resumed from runs/long/checkpoints/step-{first_stop}" in again["log"]
    listed = {x["dir"]: x for x in client.get("/api/train/runs").json()["runs"]}
    assert listed[run]["status"] == "stopped" and listed[run]["method"] == "lora"


@pytest.mark.slow
def test_a_short_run_finishes_and_chats_tuned_and_base_side_by_side(client, workspace):
    values = form_values(client, train__max_steps="6", data__val_split="0.25", train__eval_every="3",
                         output_dir="runs/short")
    run = client.post("/api/train/launch", json={"values": values}).json()["dir"]
    done = wait_for(client, run, ("finished", "failed", "stopped"))
    assert done["status"] == "finished", done["log"]
    assert [x["step"] for x in done["records"] if "eval_loss" in x] == [3, 6]
    assert done["manifest"]["total_steps"] == 6 and done["eval_loss"] is not None
    assert run in [x["dir"] for x in client.get("/api/chat/targets").json()["runs"]]

    events = stream(client, {"target": run, "messages": [{"role": "user", "content": "什么是机器学习？"}],
                             "compare": True, "max_new_tokens": 8})
    names = [name for name, _ in events]
    assert names[0] == "start" and names.count("done") == 2 and "error" not in names
    answers = {data["side"]: data for name, data in events if name == "done"}
    for side in ("tuned", "base"):
        pieces = [d["text"] for n, d in events if n == "piece" and d["side"] == side]
        assert len(pieces) >= 1 or not answers[side]["text"]  # streamed, not sent at the end
        assert answers[side]["completion_tokens"] == 8 or answers[side]["finish_reason"] == "stop"
    assert answers["tuned"]["text"] == library_answer(workspace / run, "什么是机器学习？", 8)
    assert answers["tuned"]["prompt_tokens"] == answers["base"]["prompt_tokens"]

    # Finished: nothing to resume, so resume is neither offered nor accepted (`train --resume` would fail).
    assert done["resumable"] is False and done["commands"]["resume"] is None
    refused = client.post("/api/train/resume", json={"dir": run})
    assert refused.status_code == 400 and "has finished: there is nothing to resume" in refused.json()["error"]
    assert not (workspace / "runs" / "short" / "checkpoints").exists()  # a finished run keeps no checkpoint


@pytest.mark.slow
def test_a_crashed_run_shows_its_error_and_the_server_lives_on(client):
    # The tiny tokenizer has no chat template: `train` stops on template auto, after the form passed it
    # (the template is checked against the tokenizer when the run loads it).
    values = form_values(client, template__name="auto", output_dir="runs/broken")
    run = client.post("/api/train/launch", json={"values": values}).json()["dir"]
    failed = wait_for(client, run, ("failed", "finished", "stopped"))
    assert failed["status"] == "failed" and "no chat template" in failed["error"], failed["log"]
    # It stopped before its run folder was written: `--resume` has nothing to continue, so it is not offered.
    assert failed["resumable"] is False and failed["commands"]["resume"] is None
    refused = client.post("/api/train/resume", json={"dir": run})
    assert refused.status_code == 400 and "it never started" in refused.json()["error"]
    assert client.get("/api/info").status_code == 200


def test_chat_errors_come_back_as_events_naming_the_field(client):
    no_template = stream(client, {"target": "tiny-llama", "messages": [{"role": "user", "content": "hi"}]})
    assert no_template[-1][0] == "error" and no_template[-1][1]["field"] == "template"
    plain_compare = stream(client, {"target": "tiny-llama", "template": "llama2", "compare": True,
                                    "messages": [{"role": "user", "content": "hi"}]})
    assert plain_compare[-1][1]["field"] == "compare"
    missing = stream(client, {"target": "runs/none", "messages": [{"role": "user", "content": "hi"}]})
    assert missing[-1][1]["field"] == "target"


def stream(client, body: dict) -> list[tuple[str, dict]]:
    events, name = [], None
    with client.stream("POST", "/api/chat/stream", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def library_answer(run_dir: Path, question: str, max_new_tokens: int) -> str:
    """The answer `tunesmith.infer` gives without the UI (greedy, so it is deterministic)."""
    from tunesmith.infer.generate import Generation, Sampling
    from tunesmith.infer.target import messages_to_example, open_target

    target = open_target(run_dir)
    ids = target.prompt_ids(messages_to_example([{"role": "user", "content": question}], target.system))
    generation = Generation(target.model, target.tokenizer, ids, Sampling(max_new_tokens=max_new_tokens),
                            target.stop_ids)
    return "".join(generation)
