"""The dedup pipeline steps: decisions name the kept twin, keep policies, cluster audit file."""

from __future__ import annotations

import json

import pytest

from tunesmith.data.dedup.steps import ExactDedupStep, NearDedupStep, NearOptions, SemanticDedupStep
from tunesmith.data.example import Example

ANSWER = "Why did the cat sit on the computer? To keep an eye on the mouse, of course, every single day."


def records():
    return [
        Example.single("Tell me a joke about cats", ANSWER, id="a", upvotes=1),
        Example.single("Tell me a joke about cats!", ANSWER + " Ha.", id="b", upvotes="7"),
        Example.single("Tell me a joke about cats", ANSWER.replace("mouse", "mice"), id="c"),
        Example.single("What is two plus two?", "Four.", id="d"),
        Example.single("TELL ME A JOKE ABOUT CATS", ANSWER, id="e"),
    ]


def step(cls, **options):
    return cls(cls.Options(step=cls.name, **options))


def test_exact_step_names_twin():
    s = step(ExactDedupStep)
    decisions = s(records())
    assert [d and d.twin for d in decisions] == [None, None, None, None, "a"]
    assert decisions[4].reason == "exact_duplicate" and "a" in decisions[4].detail
    assert s.stats.dropped["exact_duplicate"] == 1 and s.stats.kept == 4


@pytest.mark.parametrize("keep, kept", [("first", "a"), ("longest", "b"), ("score:upvotes", "b")])
def test_near_step_keep_policies(keep, kept):
    s = step(NearDedupStep, threshold=0.6, keep=keep)
    decisions = s(records())
    ids = ["a", "b", "c", "d", "e"]
    survivors = [i for i, d in zip(ids, decisions) if d is None]
    assert survivors == sorted([kept, "d"])
    for i, d in zip(ids, decisions):
        if d is not None:
            assert d.twin == kept and d.reason == "near_duplicate" and d.detail.startswith("jaccard ")


def test_cluster_audit_file(tmp_path):
    s = step(NearDedupStep, threshold=0.6)
    s(records())
    path = s.write_clusters(tmp_path / "audit" / "clusters.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["kept"] == "a" and rows[0]["size"] == 4
    assert {m["id"] for m in rows[0]["dropped"]} == {"b", "c", "e"}
    assert all(0.6 <= m["jaccard"] <= 1 for m in rows[0]["dropped"])
    assert s.stats.counts["clusters"] == 1


def test_semantic_step_with_hashing_embedder():
    s = step(SemanticDedupStep, embedder="hashing", threshold=0.8)
    decisions = s(records())
    assert decisions[3] is None and decisions[0] is None
    assert {d.twin for d in decisions if d is not None} == {"a"}


def test_fields_option_limits_what_is_compared():
    rs = [Example.single("Same question here", "answer one is long and different", id="x"),
          Example.single("Same question here", "a totally other reply text", id="y")]
    assert step(ExactDedupStep)(rs) == [None, None]
    assert step(ExactDedupStep, fields=["instruction"])(rs)[1].twin == "x"


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="keep policy"):
        NearOptions(step="dedup_near", keep="biggest")
    with pytest.raises(ValueError):
        NearOptions(step="dedup_near", threshold=1.5)
    with pytest.raises(ValueError):
        NearOptions(step="dedup_near", thresold=0.5)


def test_records_without_ids_get_positions_as_twins():
    rs = [Example.single("q", "same answer text"), Example.single("q", "same answer text")]
    assert step(ExactDedupStep)(rs)[1].twin == "#1"
