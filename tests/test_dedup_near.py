"""Near-duplicate detection: planted duplicates found with high precision and recall, short texts
kept apart, CJK shingling per record, backends agree."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tunesmith.dedup.clusters import UnionFind, bucket_pairs, jaccard_pairs
from tunesmith.dedup.minhash import signatures
from tunesmith.dedup.near import NearDuplicates
from tunesmith.dedup.shingles import shingle_batch
from tunesmith.dedup.synthetic import Planter, pair_scores


@pytest.fixture(scope="module")
def corpus():
    return Planter(seed=7).planted(3000, dup_rate=0.3, chinese=0.5, edits=1)


@pytest.mark.parametrize("backend", ["numpy", "rensa"])
def test_planted_near_duplicates_precision_recall(corpus, backend):
    result = NearDuplicates(threshold=0.7, backend=backend).find(corpus.texts)
    precision, recall = pair_scores(result.clusters, corpus.groups)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


@pytest.mark.parametrize("kind", ["edit", "format", "script"])
def test_each_kind_of_planted_duplicate_is_found(corpus, kind):
    result = NearDuplicates(threshold=0.7).find(corpus.texts)
    cluster_of = {int(i): c for c, members in enumerate(result.clusters) for i in members}
    planted = [i for i, k in enumerate(corpus.kinds) if k == kind]
    assert planted
    originals = {g: i for i, (g, k) in enumerate(zip(corpus.groups, corpus.kinds)) if k == "original"}
    found = sum(1 for i in planted
                if i in cluster_of and cluster_of.get(originals[corpus.groups[i]]) == cluster_of[i])
    assert found / len(planted) >= 0.95


def test_lsh_misses_few_pairs_above_threshold():
    """Of all pairs whose exact Jaccard is >= threshold, LSH proposes (nearly) every one."""
    planter = Planter(seed=3)
    base = [planter.latin(200) for _ in range(150)]
    texts = base + [planter.edit(t, planter.rng.randint(1, 3)) for t in base]
    finder = NearDuplicates(threshold=0.6)
    result = finder.find(texts)
    pairs = np.array([[i, i + 150] for i in range(150)])
    sims = result.similarity(pairs)
    above = pairs[sims >= 0.6]
    cluster_of = {int(i): c for c, members in enumerate(result.clusters) for i in members}
    found = sum(1 for a, b in above if a in cluster_of and cluster_of[a] == cluster_of.get(int(b)))
    assert len(above) > 100 and found / len(above) >= 0.97


def test_short_texts_do_not_collapse_into_one_cluster():
    texts = ["hi", "ok", "yes", "no", "hi", "好", "是的", "!!!", "???", "", "", "a b"]
    clusters = NearDuplicates(threshold=0.5).find(texts).clusters
    assert [c.tolist() for c in clusters] == [[0, 4]]


def test_unrelated_texts_are_not_clustered():
    planter = Planter(seed=11)
    texts = [planter.latin(200) for _ in range(300)] + [planter.chinese(80) for _ in range(300)]
    assert NearDuplicates(threshold=0.5).find(texts).clusters == []


def test_shingles_chosen_per_record():
    sh = shingle_batch(["the cat sat on the mat", "今天天气很好我们去公园", "用Python写一个函数吧", "hello 世界"],
                       word_n=3, char_n=5)
    assert sh.cjk.tolist() == [False, True, True, False]
    # 6 words -> 4 word 3-grams; 11 chars -> 7 char 5-grams; "hello 世界": 3 units < 3? no: exactly 3 -> 1
    assert sh.counts.tolist()[:2] == [4, 7]
    assert sh.counts[3] == 1


def test_trad_and_simplified_share_shingles():
    sh = shingle_batch(["這個軟體的說明書寫得非常詳細，請仔細閱讀。", "这个软体的说明书写得非常详细 请仔细阅读"])
    a = set(sh.hashes[sh.offsets[0]:sh.offsets[1]].tolist())
    b = set(sh.hashes[sh.offsets[1]:sh.offsets[2]].tolist())
    assert a == b and a


def test_hashes_are_deterministic_across_processes():
    import subprocess
    import sys

    code = "from tunesmith.dedup.shingles import shingle_batch; print(shingle_batch(['the quick brown fox']).hashes.tolist())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and outs.pop().startswith("[")


def test_numpy_signatures_estimate_jaccard():
    rng = np.random.default_rng(0)
    common = rng.integers(0, 2**63, 200).astype(np.uint64)
    a = np.concatenate([common, rng.integers(0, 2**63, 50).astype(np.uint64)])
    b = np.concatenate([common, rng.integers(0, 2**63, 50).astype(np.uint64)])
    true = 200 / 300
    sig = signatures(np.concatenate([a, b]), np.array([0, 250, 500]), num_perm=256)
    assert abs((sig[0] == sig[1]).mean() - true) < 0.1
    empty = signatures(np.zeros(0, np.uint64), np.array([0, 0]), num_perm=16)
    assert (empty == np.uint32(0xFFFFFFFF)).all()


def test_bucket_pairs_linear_in_bucket_size():
    keys = np.zeros(10_000, np.uint64)          # one bucket of 10,000 identical keys
    pairs = bucket_pairs(keys, np.arange(10_000))
    assert len(pairs) < 20_001
    uf = UnionFind(10_000)
    uf.union_pairs(pairs)
    assert len(uf.groups()) == 1


def test_jaccard_pairs_exact():
    values = np.array([1, 2, 3, 4, 2, 3, 4, 5, 9], np.uint32)
    offsets = np.array([0, 4, 8, 9])
    sims = jaccard_pairs(values, offsets, np.array([[0, 1], [0, 2], [1, 1]]))
    assert sims.tolist() == [3 / 5, 0.0, 1.0]


def test_worker_processes_give_the_same_clusters(corpus):
    texts = corpus.texts[:1200]
    one = NearDuplicates(batch_size=300, workers=1).find(texts).clusters
    two = NearDuplicates(batch_size=300, workers=2).find(texts).clusters
    assert [c.tolist() for c in one] == [c.tolist() for c in two] and one


def test_part_similarity_is_the_lowest_part_mean_over_aligned_turns():
    from tunesmith.dedup.near import PartSets

    asks = [["the same question", "another one"], ["the same question", "another one", "a third"],
            ["the same question"], []]
    given = [[""], [""], ["context here"], []]
    parts = PartSets.build([asks, given], np.arange(4), 4, 3)
    sims = parts.similarity(np.array([[0, 1], [0, 2], [3, 3], [0, 0]]))
    # 2 of 3 turns the same (a missing turn counts 0); inputs empty in both count as the same.
    assert sims[0] == pytest.approx(2 / 3)
    assert sims[1] == 0.0       # the inputs differ: "" against "context here"
    assert sims[2] == 1.0 and sims[3] == 1.0  # nothing on either side / the record with itself


def test_parts_veto_a_pair_the_joined_text_would_match():
    shared = Planter(seed=2).latin(600)
    texts = [f"Summarize this. {shared} A short summary.", f"Cite the sources. {shared} Three sources."]
    assert len(NearDuplicates(threshold=0.7).find(texts).clusters) == 1
    parts = [[["Summarize this."], ["Cite the sources."]], [[shared], [shared]],
             [["A short summary."], ["Three sources."]]]
    assert NearDuplicates(threshold=0.7).find(texts, parts=parts).clusters == []
