"""`engine: ray` gives the local engine's output: same kept records, rejects and dedup clusters."""

from __future__ import annotations

import json

import pytest

from tunesmith.dedup.synthetic import Planter
from tunesmith.prepare.pipeline import prepare
from tunesmith.prepare.config import load_config

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def write_raw(path):
    corpus = Planter(seed=4).planted(240, dup_rate=0.35, chars=120)
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(corpus.texts):
            f.write(json.dumps({"instruction": text[:60], "input": "", "output": text[60:] or "ok"},
                               ensure_ascii=False) + "\n")
            if i % 97 == 0:
                f.write("{not json\n")          # bad lines must be rejected the same way
    return path


def run(tmp_path, engine, raw):
    steps = "[clean, {step: dedup_exact}, {step: dedup_near, threshold: 0.7, keep: longest}, {step: length, min_chars: 5}]"
    cfg = load_config(None, [f"inputs=[{raw}]", f"output.path={tmp_path / engine / 'train.jsonl'}", f"steps={steps}",
                             "shard_size=50", "workers=2", f"engine={engine}"])
    return prepare(cfg, progress=False)


def test_ray_and_local_engines_give_identical_output(tmp_path, ray_local, monkeypatch):
    from tunesmith.prepare import ray_engine

    signed_on_ray = []
    real_map = ray_engine.ray_map

    def counting_map(fn, args):
        signed_on_ray.append(len(args))
        return real_map(fn, args)

    monkeypatch.setattr(ray_engine, "ray_map", counting_map)
    raw = write_raw(tmp_path / "raw.jsonl")
    local = run(tmp_path, "local", raw)
    assert not signed_on_ray
    on_ray = run(tmp_path, "ray", raw)
    assert signed_on_ray  # the near-dup signatures were computed by Ray tasks, not on the driver
    assert local.kept == on_ray.kept and 100 < local.kept < 240
    assert local.output.read_bytes() == on_ray.output.read_bytes()
    assert local.rejected_path.read_bytes() == on_ray.rejected_path.read_bytes()
    # what clean changed is recorded on Ray's workers as in the local ones
    assert local.changes > 0 and local.changes_path.read_bytes() == on_ray.changes_path.read_bytes()
    clusters = (local.output.parent / "clusters.jsonl").read_bytes()
    assert clusters and clusters == (on_ray.output.parent / "clusters.jsonl").read_bytes()
    reasons = {json.loads(line)["reason"] for line in local.rejected_path.read_text().splitlines()}
    assert {"unreadable", "exact_duplicate", "near_duplicate"} <= reasons
    assert local.drops == on_ray.drops


def test_semantic_dedup_embeds_on_ray_and_finds_what_one_process_finds(tmp_path, ray_local, monkeypatch,
                                                                       tiny_model_dir):
    from tunesmith.prepare import ray_engine

    tasks = []
    real_map = ray_engine.ray_map

    def counting_map(fn, args):
        tasks.append((fn.__name__, len(args)))
        return real_map(fn, args)

    monkeypatch.setattr(ray_engine, "ray_map", counting_map)
    monkeypatch.setattr("tunesmith.prepare.steps.dedup.SemanticDedupStep.task_texts", 64)  # several tasks
    raw = write_raw(tmp_path / "raw.jsonl")
    steps = f"[clean, {{step: dedup_semantic, embedder: 'hf:{tiny_model_dir}', threshold: 0.98, batch_size: 16}}]"
    runs = {}
    for engine in ("local", "ray"):
        cfg = load_config(None, [f"inputs=[{raw}]", f"output.path={tmp_path / engine / 'train.jsonl'}",
                                 f"steps={steps}", "shard_size=50", f"engine={engine}"])
        runs[engine] = prepare(cfg, progress=False)
    assert tasks and tasks[0][0] == "embed_texts" and tasks[0][1] >= 3  # the embedding ran as Ray tasks
    local, on_ray = runs["local"], runs["ray"]
    assert local.drops.get("dedup_semantic/semantic_duplicate", 0) > 10
    assert local.output.read_bytes() == on_ray.output.read_bytes()
    assert local.rejected_path.read_bytes() == on_ray.rejected_path.read_bytes()
