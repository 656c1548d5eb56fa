"""Filters: each scored on a labelled set built here (good records must stay, planted bad ones go)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop
from tunesmith.data.steps.filters import LengthStep, MetaStep, QualityStep
from tunesmith.data.steps.machine_text import MachineTextStep
from tunesmith.data.steps.language import LanguageStep
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


BAD_QUALITY = [
    (Example.single("Tell me a joke.", ""), "empty_output"),
    (Example.single("Tell me a joke.", "   "), "empty_output"),
    (Example.single("Tell me a joke.", "……！"), "trivial_output"),
    (Example.single("What is the capital of France?", "what is the capital of France"), "output_echoes_input"),
    (Example.single("介绍一下北京", "北京是中国的首都。北京是中国的首都。北京是中国的首都。北京是中国的首都。"), "repetitive"),
    (Example.single("Say something", "I don't know. " * 12), "repetitive"),
    (Example.single("Describe it", "see @@@ ### $$$ %%% ^^^ &&& *** ~~~ ||| here"), "special_characters"),
]


@pytest.mark.parametrize("example,reason", BAD_QUALITY)
def test_quality_catches_each_bad_kind(example, reason):
    out = QualityStep()(example)
    assert isinstance(out, Drop) and out.reason == reason, out


def test_length():
    step = LengthStep(LengthStep.Options(step="length", min_chars=5, max_chars=20, fields=["output"]))
    assert step(Example.single("q", "abc")).reason == "too_short"
    assert step(Example.single("q", "x" * 21)).reason == "too_long"
    assert not isinstance(step(Example.single("q", "just right")), Drop)


def test_meta_expression():
    step = MetaStep(MetaStep.Options(step="meta", keep_if="upvotes >= 3 and lang in ['zh', 'en']"))
    assert not isinstance(step(Example.single("q", "a", upvotes=5, lang="zh")), Drop)
    assert step(Example.single("q", "a", upvotes=1, lang="zh")).reason == "meta"
    assert step(Example.single("q", "a", lang="zh")).reason == "meta_missing"
    assert step(Example.single("q", "a", upvotes="many", lang="zh")).reason == "meta_error"
    keep_missing = MetaStep(MetaStep.Options(step="meta", keep_if="upvotes >= 3", missing="keep"))
    assert not isinstance(keep_missing(Example.single("q", "a")), Drop)


@pytest.mark.parametrize("expr", ["__import__('os').system('x')", "upvotes.__class__", "lambda: 1", "upvotes >="])
def test_meta_refuses_unsafe_or_broken_expressions(expr):
    with pytest.raises(ValueError):
        MetaStep.Options(step="meta", keep_if=expr)


def test_perplexity_scores_and_thresholds(tiny_model_dir):
    from tunesmith.data.steps.model_filters import PerplexityStep

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
    from tunesmith.data.pipeline_config import step_options

    with pytest.raises(ConfigError, match="unknown categories"):
        step_options({"step": "machine_text", "categories": ["nope"]})


ECHO_ALPHABET = "abcAxXYZ 你好，。!?_-İi\n"  # cases, Han, punctuation, and İ (two characters lower-cased)


@given(st.text(alphabet=ECHO_ALPHABET, max_size=60), st.text(alphabet=ECHO_ALPHABET, max_size=60),
       st.booleans())
@settings(max_examples=300, deadline=None)
def test_echo_prefilter_never_rejects_a_real_echo(output, other, same):
    from tunesmith.data.steps.filters import _NORMALISE, _could_echo, _same_words

    other = output if same else other
    said = _NORMALISE.sub("", output).lower()
    if said and _same_words(said, other):
        assert _could_echo(output, other)


def _repeat_ratio_reference(text: str, n: int) -> float:
    """The rule written plainly: one regex match per unit, every n-gram counted."""
    import re
    from collections import Counter

    cjk = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    units = re.findall(rf"[{cjk}]|[^\W_{cjk}]+", text.lower())
    if len(units) < 2 * n:
        return 0.0
    grams = [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]
    counts = Counter(grams)
    covered = set()
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered.update(range(i, i + n))
    return len(covered) / len(units)


# Few distinct units so that repeats are common; Han, kana, Hangul, Latin, digits, full-width and symbols.
_REPEAT_ALPHABET = st.sampled_from(["的", "是", "我们", "北京", "カナ", "한", "ab", "Ab", "x1", "２", " ", "，", "。",
                                    "!", "_", "-", "\n", "İ", "é", "the ", "cat "])


@given(st.lists(_REPEAT_ALPHABET, max_size=80), st.integers(2, 6), st.sampled_from([0.1, 0.3, 0.6, 0.9]))
@settings(max_examples=400, deadline=None)
def test_repetition_fast_path_decides_like_the_plain_rule(pieces, n, limit):
    from tunesmith.data.steps.filters import repeat_ratio, repeat_ratio_over

    text = "".join(pieces)
    want = _repeat_ratio_reference(text, n)
    assert repeat_ratio(text, n) == pytest.approx(want)
    got = repeat_ratio_over(text, n, limit)
    assert (got is not None) == (want > limit), (text, got, want)
    if got is not None:
        assert got == pytest.approx(want)


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_special_ratio_ascii_path_equals_the_regex(text):
    from tunesmith.data.steps.filters import _SPECIAL, special_ratio

    if "```" not in text and text:
        assert special_ratio(text) == pytest.approx(len(_SPECIAL.findall(text)) / len(text))
    ascii_text = text.encode("ascii", "ignore").decode()
    if "```" not in ascii_text and ascii_text:
        assert special_ratio(ascii_text) == pytest.approx(len(_SPECIAL.findall(ascii_text)) / len(ascii_text))
