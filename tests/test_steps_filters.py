"""Filters: good records pass every filter; length, perplexity. (quality, meta, language and machine_text
have their own test files.)"""

from __future__ import annotations

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.filters import LengthStep, QualityStep
from tunesmith.prepare.steps.machine_text import MachineTextStep
from tunesmith.prepare.steps.language import LanguageStep
from tunesmith.errors import ConfigError

GOOD = [
    ("解释一下什么是机器学习。", "机器学习是人工智能的一个分支，它让计算机从数据中学习规律，而不是依靠人写好的规则。"),
    ("用Python写一个快速排序", "```python\ndef qsort(a):\n    if len(a) <= 1:\n        return a\n    p = a[0]\n"
                              "    return qsort([x for x in a[1:] if x < p]) + [p] + qsort([x for x in a[1:] if x >= p])\n```"),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Give three tips for staying healthy.", "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep well."),
    ("把下面的句子翻译成英文：今天天气很好。", "The weather is nice today."),
    ("How do I kill a process on Linux?", "Use `kill PID`, or `kill -9 PID` if it does not stop."),
    ("写一首关于秋天的短诗", "秋风起，落叶黄，\n雁南飞，夜渐长。"),
    ("2+2=?", "4"),
    ("Summarise: The meeting moved to Tuesday.", "The meeting is now on Tuesday."),
    ("什么是 GPU？", "GPU（图形处理器）擅长并行计算，常用于深度学习训练。"),
]


def good_examples():
    return [Example.single(i, o) for i, o in GOOD]


def run(step, examples):
    return [step(e.copy()) for e in examples]


def test_good_records_pass_every_filter():
    steps = [LengthStep(), QualityStep(), MachineTextStep(), LanguageStep()]
    for step in steps:
        dropped = [(e.instruction, r) for e, r in zip(good_examples(), run(step, good_examples()))
                   if isinstance(r, Drop)]
        assert not dropped, f"{step.name} dropped good records: {dropped}"


def test_length():
    step = LengthStep(LengthStep.Options(step="length", min_chars=5, max_chars=20, fields=["output"]))
    assert step(Example.single("q", "abc")).reason == "too_short"
    assert step(Example.single("q", "x" * 21)).reason == "too_long"
    assert not isinstance(step(Example.single("q", "just right")), Drop)


def test_perplexity_scores_and_thresholds(tiny_model_dir):
    from tunesmith.prepare.steps.model_filters import PerplexityStep

    opts = dict(step="perplexity", model={"path": str(tiny_model_dir)}, write_score=True)
    lenient = PerplexityStep(PerplexityStep.Options(**opts, max_perplexity=1e9))
    batch = [Example.single("q", "hello world"), Example.single("q", "今天天气很好" * 3), Example.single("q", "")]
    out = lenient.apply_batch(batch)
    scores = [e.meta.get("perplexity") for e in out]
    assert scores[0] > 1 and scores[1] > 1 and scores[2] is None  # empty answers are not scored
    # Same text alone and in a padded batch scores the same (padding does not leak into the score).
    alone = lenient.scores(["hello world"])[0]
    assert alone == pytest.approx(scores[0], rel=1e-3)
    strict = PerplexityStep(PerplexityStep.Options(**opts, max_perplexity=1.0))
    assert strict.apply_batch([Example.single("q", "hello world")])[0].reason == "perplexity_high"


def test_unknown_category_is_a_config_error():
    from tunesmith.prepare.config import step_options

    with pytest.raises(ConfigError, match="unknown categories"):
        step_options({"step": "machine_text", "categories": ["nope"]})
