"""The package's layers (pyproject's [tool.importlinter]) hold: no module imports from a layer above its
own, and no import circle exists at any depth. The contract is real: an upward import breaks it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def test_every_contract_is_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") == len(contracts())


def layers_contract(graph) -> bool:
    options = next(c for c in contracts() if c["type"] == "layers")
    contract = LayersContract(name=options["name"], session_options={"root_packages": ["tunesmith"]},
                              contract_options={k: (str(v).lower() if isinstance(v, bool) else v)  # as read from a file
                                                for k, v in options.items() if k not in ("name", "type")})
    return contract.check(graph, verbose=False).kept


@pytest.mark.parametrize("importer, imported", [
    ("tunesmith.records.example", "tunesmith.train.loop"),        # the record type reaching up into training
    ("tunesmith.text.render", "tunesmith.prepare.steps.pii"),     # rendering using a data step
    ("tunesmith.train.loop", "tunesmith.infer.generate"),         # independent siblings
    ("tunesmith.methods", "tunesmith.ui.app"),
])
def test_an_upward_import_breaks_the_layers(importer, imported):
    assert layers_contract(grimp.build_graph("tunesmith", cache_dir=None))
    graph = grimp.build_graph("tunesmith", cache_dir=None)
    graph.add_import(importer=importer, imported=imported)
    assert not layers_contract(graph)
