"""`perplexity` scores each text as the model does alone: sorting, batching and the hidden-state loss change nothing."""

from __future__ import annotations

import math

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.model_filters import PerplexityStep

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def step(tiny_model_dir):
    return PerplexityStep(PerplexityStep.Options(step="perplexity", model={"path": str(tiny_model_dir)},
                                                 max_perplexity=1e9, batch_size=3, max_tokens=24, write_score=True))


def _alone(step, text: str) -> float | None:
    """The reference: one text, no padding, the model's full logits."""
    import torch

    ids = step.tokenizer([text], truncation=True, max_length=step.options.max_tokens, return_tensors="pt")["input_ids"]
    if ids.shape[1] < 2:
        return None
    with torch.no_grad():
        logits = step.model(input_ids=ids).logits.float()
    return math.exp(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:]).item())


def test_scores_equal_each_text_scored_alone(step):
    texts = ["hello world " * k for k in (1, 5, 2, 9, 3)] + ["你好，世界。" * 4, "x", " ".join("abcdefghijklmnopqrst")]
    got = step.scores(texts)
    for text, score in zip(texts, got):
        assert score == pytest.approx(_alone(step, text), rel=1e-4), text
    # Order does not matter: the same texts reversed get the same scores.
    assert step.scores(texts[::-1]) == pytest.approx(got[::-1], rel=1e-5)


def test_a_text_with_nothing_to_predict_is_kept_unscored(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.add_bos_token = False
    step = PerplexityStep(PerplexityStep.Options(step="perplexity", model={"path": str(tiny_model_dir)},
                                                 max_perplexity=1.0))
    step.tokenizer = tok
    one = next(t for t in ("a", "x", "1") if len(tok(t, add_special_tokens=True).input_ids) == 1)
    assert step.scores([one]) == [None]
    record = Example.single("q", one)
    assert step.apply_batch([record])[0] is record  # kept, not judged on zero tokens
    assert step.apply_batch([Example.single("q", "hello world")])[0].reason == "perplexity_high"


def test_thresholds_on_both_sides_and_the_score_is_written(step, tiny_model_dir):
    batch = [Example.single("q", "hello world " * 3), Example.single("q", "今天天气很好"), Example.single("q", " ")]
    scores = step.scores(["hello world " * 3, "今天天气很好"])
    out = step.apply_batch(batch)
    assert [e.meta.get("perplexity") for e in out] == [round(scores[0], 3), round(scores[1], 3), None]
    low, high = sorted(scores)
    opts = dict(step="perplexity", model={"path": str(tiny_model_dir)}, batch_size=2, max_tokens=24)
    band = PerplexityStep(PerplexityStep.Options(**opts, max_perplexity=high - 1e-3, min_perplexity=low + 1e-3))
    reasons = [r.reason for r in band.apply_batch([Example.single("q", "hello world " * 3),
                                                   Example.single("q", "今天天气很好")])]
    want = {scores[0]: None, scores[1]: None}
    want[high], want[low] = "perplexity_high", "perplexity_low"
    assert reasons == [want[scores[0]], want[scores[1]]]
