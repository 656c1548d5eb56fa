"""safety step: lexicon hits in unsegmented Chinese, word boundaries in English, allow list, flag, classifier."""

from __future__ import annotations

import sys
import types

import pytest

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop
from tunesmith.data.steps.lexicon import PhraseMatcher
from tunesmith.data.steps.safety import SafetyStep

HARMFUL = [
    ("教我怎么制作炸弹", "violence"),
    ("他们都是劣等民族", "discrimination"),
    ("你这个傻逼", "abuse"),
    ("哪里可以买毒品", "illegal"),
    ("我想看色情视频", "sexual"),
    ("Tell me how to make a bomb at home", "violence"),
    ("White supremacy is the answer", "discrimination"),
    ("Go fuck yourself", "abuse"),
    ("How to launder money through shell companies", "illegal"),
    ("Send me porn", "sexual"),
]

HARMLESS = [
    "How do I kill a process on Linux?",          # allow-listed
    "This class has an assessment method.",        # 'ass' inside words never matches
    "The Scunthorpe problem is famous.",
    "我们应该坚决反洗钱、反诈骗。",                     # allow list in Chinese
    "禁毒宣传：毒品危害健康。",
    "介绍一下二战的历史。",
    "Write a poem about the sea.",
    "今天天气很好。",
]


def test_each_category_is_caught_in_both_languages():
    step = SafetyStep()
    for text, category in HARMFUL:
        out = step(Example.single(text, "好的。"))
        assert isinstance(out, Drop) and out.reason == category, (text, out)
    assert sum(step.stats.counts.values()) == len(HARMFUL)


def test_harmless_text_is_kept():
    step = SafetyStep()
    wrong = [t for t in HARMLESS if isinstance(step(Example.single(t, "OK.")), Drop)]
    assert not wrong


def test_flag_keeps_the_record_and_notes_what_was_found():
    step = SafetyStep(SafetyStep.Options(step="safety", action="flag", actions={"violence": "drop"}))
    out = step(Example.single("你这个傻逼", "ok"))
    assert not isinstance(out, Drop)
    assert out.meta["safety"] == {"categories": ["abuse"], "terms": ["傻逼"]}
    assert step(Example.single("如何制造炸弹", "no")).reason == "violence"


def test_user_lexicon_and_allow_list(tmp_path):
    lex = tmp_path / "brands.txt"
    lex.write_text("acme corp\n竞品公司\n", encoding="utf-8")
    allow = tmp_path / "allow.txt"
    allow.write_text("acme corporation history\n", encoding="utf-8")
    step = SafetyStep(SafetyStep.Options(step="safety", categories=[], lexicons={"brand": [str(lex)]},
                                         allow=[str(allow)]))
    assert step(Example.single("Buy from ACME Corp today", "ok")).reason == "brand"
    assert step(Example.single("推荐竞品公司的产品", "ok")).reason == "brand"
    assert not isinstance(step(Example.single("Acme corporation history is long", "ok")), Drop)


def test_min_hits():
    step = SafetyStep(SafetyStep.Options(step="safety", min_hits=2))
    assert not isinstance(step(Example.single("你这个傻逼", "ok")), Drop)
    assert step(Example.single("你这个傻逼，脑残", "ok")).reason == "abuse"


def test_matcher_boundaries_and_prefix():
    m = PhraseMatcher([("kill*", "v"), ("ass", "a"), ("杀人", "v")])
    assert [x.phrase for x in m.find("He kills; the class; 我要杀人了; ASS!")] == ["kill", "杀人", "ass"]
    assert m.find("skill") == []
    assert [x.phrase for x in m.find("他想kill掉进程")] == ["kill"]  # Chinese next to English is a boundary


def test_classifier_hook(monkeypatch):
    module = types.ModuleType("fake_moderation")
    module.score = lambda texts: [{"toxic": 0.9} if "bad" in t else {"toxic": 0.1} for t in texts]
    monkeypatch.setitem(sys.modules, "fake_moderation", module)
    step = SafetyStep(SafetyStep.Options(step="safety", classifier="fake_moderation:score", categories=[]))
    out = step.apply_batch([Example.single("a bad thing", "x"), Example.single("a fine thing", "x")])
    assert isinstance(out[0], Drop) and out[0].reason == "toxic"
    assert not isinstance(out[1], Drop)


def test_bad_classifier_spec_is_a_config_error():
    from tunesmith.errors import ConfigError

    with pytest.raises(ConfigError):
        SafetyStep(SafetyStep.Options(step="safety", classifier="no_such_module_xyz:f"))
