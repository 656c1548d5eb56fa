"""Exact dedup: normalisation folds form (case, width, punctuation, whitespace, script) and nothing else."""

from __future__ import annotations

from tunesmith.dedup.exact import exact_clusters
from tunesmith.dedup.normalize import normalize, normalize_batch
from tunesmith.dedup.synthetic import Planter, pair_scores


def test_normalisation_folds_form():
    assert normalize("Hello,   World!!\n") == "hello world"
    assert normalize("ＨＥＬＬＯ　ｗｏｒｌｄ１２３") == "hello world123"
    assert normalize("今天天氣很好，我們去公園散步吧。") == normalize("今天天气很好 我们去公园散步吧") == "今天天气很好我们去公园散步吧"
    assert normalize("用 Python 写一个函数") == "用python写一个函数"
    # Spaces between Latin words are kept: "a bc" is not "ab c".
    assert normalize("a bc") != normalize("ab c")


def test_separator_character_in_input_cannot_split_records():
    out = normalize_batch(["a\ue000b", "c"])
    assert out == ["a b", "c"]


def test_exact_twins_found_and_nothing_else():
    texts = ["Hello, World!", "hello world", "ＨＥＬＬＯ　ｗｏｒｌｄ", "hello worlds", "今天天氣很好", "今天天气很好。",
             "!!!", "???", "!!!", "", ""]
    assert [c.tolist() for c in exact_clusters(texts)] == [[0, 1, 2], [4, 5], [6, 8], [9, 10]]


def test_planted_exact_format_and_script_twins():
    corpus = Planter(seed=5).planted(3000, kinds=("exact", "format", "script"))
    precision, recall = pair_scores(exact_clusters(corpus.texts), corpus.groups)
    assert precision == 1.0 and recall >= 0.99, (precision, recall)


def test_edited_twins_are_not_exact_duplicates():
    corpus = Planter(seed=6).planted(1000, kinds=("edit",))
    precision, recall = pair_scores(exact_clusters(corpus.texts), corpus.groups)
    assert precision == 1.0 and recall < 0.2
