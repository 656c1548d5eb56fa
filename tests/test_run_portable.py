"""A run folder trained on an embedded model loads on another machine: moved to another directory,
with another $TUNESMITH_HOME, by tunesmith and by plain PEFT (which reads the base's name from
adapter_config.json)."""

from __future__ import annotations

import json
import shutil

import torch

from test_train_loop import config, samples
from tunesmith.model import catalog
from tunesmith.train.loop import train


def _home_with_embedded(home, tiny_model_dir):
    """$TUNESMITH_HOME with the tiny model 'pulled' as the embedded model 'tinyemb'."""
    folder = home / "models" / "tinyemb"
    shutil.copytree(tiny_model_dir, folder)
    (folder / catalog.MARKER).write_text(json.dumps({"name": "tinyemb"}))
    return home


def test_a_run_folder_loads_elsewhere(tiny_model_dir, tmp_path, monkeypatch):
    from peft import PeftConfig

    from tunesmith.runs.folder import load_trained

    monkeypatch.setitem(catalog.EMBEDDED, "tinyemb", catalog.Embedded("tinyemb_pkg", "tinyemb", "a tiny test model",
                                                                      "example-org/tiny-emb"))
    monkeypatch.setenv("TUNESMITH_HOME", str(_home_with_embedded(tmp_path / "home-a", tiny_model_dir)))
    cfg = config("tinyemb", tmp_path / "machine-a" / "run", max_steps=2)
    train(cfg, samples=samples(8), progress=False)
    here_model, _, _ = load_trained(tmp_path / "machine-a" / "run", device="cpu")

    adapter = json.loads((tmp_path / "machine-a" / "run" / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "example-org/tiny-emb"  # not .../home-a/models/tinyemb

    moved = tmp_path / "machine-b" / "elsewhere" / "run"
    shutil.copytree(tmp_path / "machine-a" / "run", moved)
    shutil.rmtree(tmp_path / "machine-a")
    shutil.rmtree(tmp_path / "home-a")
    monkeypatch.setenv("TUNESMITH_HOME", str(_home_with_embedded(tmp_path / "home-b", tiny_model_dir)))
    there_model, tokenizer, cfg_back = load_trained(moved, device="cpu")
    assert cfg_back.model.path == "tinyemb"
    ids = torch.tensor([[1, 5, 9, 30, 2]])
    with torch.no_grad():
        torch.testing.assert_close(there_model(input_ids=ids).logits, here_model(input_ids=ids).logits)
    assert PeftConfig.from_pretrained(moved / "adapter").base_model_name_or_path == "example-org/tiny-emb"
