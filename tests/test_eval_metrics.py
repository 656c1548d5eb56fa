"""BLEU/ROUGE/exact match: hand-computed values, sacrebleu agreement, Chinese segmentation."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.evaluate import metrics


def test_words_cut_chinese_with_jieba_and_english_with_regex():
    assert metrics.words("Hello, World!") == ["hello", ",", "world", "!"]
    zh = metrics.words("我爱北京天安门")
    assert "北京" in zh and "天安门" in zh          # words, not one 7-character blob nor 7 characters
    assert metrics.words("ＡＢＣ　ｘ") == ["abc", "x"]   # full-width forms folded by NFKC


def test_rouge_by_hand():
    hyp, ref = "the cat sat on the mat".split(), "the cat lay on the mat".split()
    # unigrams: overlap the,cat,on,the,mat = 5 of 6 both ways -> F1 5/6
    assert metrics.rouge_n(hyp, ref, 1) == pytest.approx(100 * 5 / 6)
    # bigrams: (the cat),(on the),(the mat) = 3 of 5
    assert metrics.rouge_n(hyp, ref, 2) == pytest.approx(100 * 3 / 5)
    # LCS: the cat on the mat = 5
    assert metrics.lcs_length(hyp, ref) == 5
    assert metrics.rouge_l(hyp, ref) == pytest.approx(100 * 5 / 6)
    assert metrics.rouge_l([], ref) == 0.0


def test_bleu_by_hand():
    same = "a b c d e".split()
    assert metrics.sentence_bleu(same, same) == pytest.approx(100.0)
    hyp, ref = "a b c d".split(), "a b c d e f".split()
    # all precisions 1, brevity penalty exp(1 - 6/4)
    assert metrics.sentence_bleu(hyp, ref) == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert metrics.sentence_bleu("a b c".split(), ref) == 0.0   # no 4-gram at all
    assert metrics.corpus_bleu([[]], [ref]) == 0.0
    assert metrics.corpus_bleu([[], ["a"] * 4], [["a"], ["b"]]) == 0.0  # nothing matches: no smoothed score


def test_corpus_bleu_matches_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = ["the cat is on the mat today", "there is a cat here on the mat", "a dog barks loudly at night",
            "我 爱 北京 天安门", "完全 不同 的 句子 在 这里"]
    refs = ["the cat sat on the mat today", "there is a cat on the mat", "the dog barks at night",
            "我 爱 北京 的 天安门", "这里 没有 任何 相同 的 东西 吧"]
    ours = metrics.corpus_bleu([h.split() for h in hyps], [r.split() for r in refs])
    theirs = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score
    assert ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcde"), min_size=0, max_size=12), min_size=1, max_size=6),
       st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=12), min_size=1, max_size=6))
def test_bleu_matches_sacrebleu_on_random_corpora(hyps, refs):
    sacrebleu = pytest.importorskip("sacrebleu")
    n = min(len(hyps), len(refs))
    hyps, refs = hyps[:n], refs[:n]
    theirs = sacrebleu.corpus_bleu([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]], tokenize="none").score
    assert metrics.corpus_bleu(hyps, refs) == pytest.approx(theirs, abs=1e-6)


def test_chinese_scores_need_segmentation():
    # Same meaning, reordered clause: with jieba words overlap a lot; as space-split text it is one token each.
    pred, ref = "今天天气很好，我们去公园散步。", "我们去公园散步，今天天气很好。"
    scores = metrics.sample_scores(pred, ref)
    assert scores["rouge1"] == pytest.approx(100.0)       # the same words, other order
    assert 0 < scores["rougeL"] < 100
    assert scores["exact_match"] == 0.0


def test_exact_match_normalises_case_space_and_end_punctuation():
    assert metrics.exact_match("  Paris. ", "paris") == 100.0
    assert metrics.exact_match("北京。", "北京") == 100.0
    assert metrics.exact_match("Paris, France", "Paris") == 0.0


def test_score_all_shapes_and_checks():
    scores = metrics.score_all(["the cat sat", "yes"], ["the cat sat", "no"])
    assert set(scores) == set(metrics.METRIC_NAMES)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["rouge1"] == pytest.approx(50.0)
    with pytest.raises(ValueError):
        metrics.score_all(["a"], [])


def test_score_samples_parts_give_the_corpus_scores():
    """The parts the bootstrap resamples add up to exactly the corpus scores the table shows."""
    preds = ["the cat sat on the mat", "我爱北京天安门", "", "Paris."]
    refs = ["the cat lay on the mat", "我爱北京", "something", "paris"]
    per_sample, stats = metrics.score_samples(preds, refs)
    assert [s["bleu4"] for s in per_sample] == [metrics.sentence_bleu(metrics.words(p), metrics.words(r))
                                                for p, r in zip(preds, refs)]
    assert per_sample[3]["exact_match"] == 100.0
    corpus = metrics.corpus(per_sample, stats)
    assert corpus["bleu4"] == metrics.corpus_bleu([metrics.words(p) for p in preds], [metrics.words(r) for r in refs])
    assert corpus == metrics.score_all(preds, refs)
    assert corpus["rougeL"] == pytest.approx(sum(s["rougeL"] for s in per_sample) / 4)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        metrics.score_samples(["a", "b"], ["a"])
