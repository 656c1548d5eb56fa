"""A mistyped path is a missing path at once (with a did-you-mean), never a hub id; an offline hub
lookup is one line in well under the ~50 s of huggingface_hub's retries, or reads the local cache."""

import shutil
import time

import pytest

from tunesmith.config import ModelConfig
from tunesmith.errors import ModelLoadError
from tunesmith.model import load, locate


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working folder with runs/quickstart (a run) and runs/other, as a user's project has."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    (tmp_path / "runs" / "quickstart" / "config.yaml").write_text("{}")
    (tmp_path / "runs" / "other").mkdir()
    return tmp_path


@pytest.fixture
def no_hub(monkeypatch):
    """Fails the test if anything asks whether the hub is reachable."""
    def asked():
        raise AssertionError("a path-looking name reached the hub lookup")
    monkeypatch.setattr(locate, "hub_offline_reason", asked)


@pytest.mark.parametrize("name", ["runs/quikstart", "./runs/quikstart", "runs/quikstart/", "model.gguf",
                                  "a/b/c", "~/nowhere-at-all/x"])
def test_path_looking_names(project, name):
    assert locate.looks_like_path(name)


@pytest.mark.parametrize("name", ["meta-llama/Llama-2-7b-hf", "Qwen/Qwen2.5-7B-Instruct"])
def test_hub_ids_are_not_paths(project, name):
    assert not locate.looks_like_path(name)


def test_a_mistyped_run_folder_is_refused_at_once_with_the_close_name(project, no_hub):
    from tunesmith.infer.target import open_target

    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"no such run folder or model: runs/quikstart "
                                             r"\(did you mean runs/quickstart\?\)"):
        open_target("runs/quikstart")
    assert time.perf_counter() - start < 5
    with pytest.raises(ModelLoadError, match=r"did you mean runs/quickstart\?"):
        open_target("./rnus/quikstart")        # every missing part is matched
    with pytest.raises(ModelLoadError, match=r"did you mean smollm2\?"):
        open_target("smollm")                   # an embedded model's name counts too
    with pytest.raises(ModelLoadError) as e:
        open_target("runs/zzz")                 # nothing close: the hint lists what is there
    assert "runs holds: other, quickstart" in e.value.hint


def test_train_model_path_is_checked_the_same_way(project, no_hub):
    with pytest.raises(ModelLoadError, match=r"model.path 'runs/quikstart' does not exist "
                                             r"\(did you mean runs/quickstart\?\)"):
        load.resolve(ModelConfig(path="runs/quikstart"))


def test_cli_prints_one_error_and_its_hint(project, no_hub, capsys):
    from tunesmith.cli import main

    assert main(["chat", "runs/quikstart", "--prompt", "hi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: no such run folder or model: runs/quikstart (did you mean runs/quickstart?)"
    assert len(err) == 2 and err[1].startswith("  hint:")


def test_offline_hub_is_one_line_at_once(project, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"not reachable from here \(HF_HUB_OFFLINE is set\), and it is not in the local cache"):
        load.resolve(ModelConfig(path="org/not-here"))
    # no HF_HUB_OFFLINE, but nothing answers at the endpoint: one quick connection attempt says so
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")   # the discard port: refused at once
    for proxy in locate.PROXY_VARIABLES:
        monkeypatch.delenv(proxy, raising=False)
    locate._unreachable.cache_clear()
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"not reachable from here \(127.0.0.1: Connection refused\)") as e:
        load.resolve(ModelConfig(path="rnus/quickstart"))  # not a folder here: a hub id, but close to one
    assert time.perf_counter() - start < 5
    assert "if you meant the local path runs/quickstart" in e.value.hint
    locate._unreachable.cache_clear()


def test_offline_hub_id_loads_from_the_local_cache(project, monkeypatch, tiny_model_dir):
    """A hub id downloaded before loads offline from the Hugging Face cache, without a lookup."""
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = project / "hub" / "models--org--tiny"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(project / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = load.resolve(ModelConfig(path="org/tiny"))
    assert source.kind == "folder" and source.location.endswith(commit)
    model, tokenizer = load.load(ModelConfig(path="org/tiny"))
    assert model.config.num_hidden_layers == 2 and tokenizer.pad_token is not None


@pytest.mark.parametrize("argv, message", [
    (["merge", "runs/quikstart", "merged"], "no such run folder: runs/quikstart"),
    (["export", "runs/quikstart", "--gguf", "x.gguf"], "no such run folder or model folder: runs/quikstart"),
    (["train", "configs-x.yaml", "model.path=runs/quikstart"], None),
])
def test_merge_and_export_name_the_close_run_too(project, no_hub, capsys, argv, message):
    from tunesmith.cli import main

    if message is None:  # train's model.path, through a config file
        (project / "configs-x.yaml").write_text("output_dir: runs/new\n")
        message = "model.path 'runs/quikstart' does not exist"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {message} (did you mean runs/quickstart?)" in err.splitlines(), err


def test_ui_chat_takes_a_mistyped_run_under_its_root_for_a_path(tmp_path, no_hub):
    """The UI's root need not be the working folder: a name under one of its folders is still a path."""
    from tunesmith.infer.target import open_target
    from tunesmith.ui.paths import name_or_path

    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    where = name_or_path(tmp_path, "runs/quikstart", "target")
    assert where == str(tmp_path.resolve() / "runs" / "quikstart")
    with pytest.raises(ModelLoadError, match=rf"did you mean {tmp_path.resolve() / 'runs' / 'quickstart'}\?"):
        open_target(where)
    assert name_or_path(tmp_path, "meta-llama/Llama-2-7b-hf", "target") == "meta-llama/Llama-2-7b-hf"
