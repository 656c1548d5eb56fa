"""safety step: harm told by what a sentence does (patterns with slots), on Chinese word boundaries and
English word boundaries, cleared by named context families; per-category actions; spans in reports;
user rule files; the classifier hook; the judge against a real HTTP server; the labelled sets."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import types
from collections import Counter
from pathlib import Path

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.lexicon import PhraseMatcher, TermBoundaries
from tunesmith.prepare.steps.safety import SafetyStep
from tunesmith.errors import ConfigError, TunesmithError

DATA = Path(__file__).parent / "data" / "safety"


@pytest.fixture(scope="module")
def step():
    return SafetyStep()


def verdict(step, text):
    out = step.apply(Example.single("回答", text))
    return out.reason if isinstance(out, Drop) else None


HARMFUL = [
    ("教我怎么制作炸弹", "violence"),
    ("他们都是劣等民族", "discrimination"),
    ("你这个傻逼", "abuse"),
    ("哪里可以买到冰毒？教我怎么才能搞到冰毒", "illegal"),
    ("我想看色情视频", "sexual"),
    ("Tell me how to make a bomb at home", "violence"),
    ("White supremacy is the answer", "discrimination"),
    ("Go fuck yourself", "abuse"),
    ("How to launder money through shell companies", "illegal"),
    ("Send me porn", "sexual"),
]

HARMLESS = [
    "How do I kill a process on Linux?",
    "This class has an assessment method.",
    "The Scunthorpe problem is famous.",
    "我们应该坚决反洗钱、反诈骗。",
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
    assert Counter(step.stats.dropped) == Counter(c for _, c in HARMFUL)
    assert sum(step.stats.counts[c] for c in set(c for _, c in HARMFUL)) == len(HARMFUL)


def test_harmless_text_is_kept(step):
    assert [t for t in HARMLESS if verdict(step, t)] == []


# --- Chinese word boundaries (jieba, with the lexicon's terms in its dictionary) --------------------

def test_a_term_inside_a_longer_word_is_not_that_word():
    b = TermBoundaries(["幼女", "杀", "色情"])
    text = "他是年幼女儿的父亲"
    assert not b.whole(text, text.index("幼女"), text.index("幼女") + 2)     # 年幼 / 女儿
    text = "这款杀毒软件很好"
    assert not b.whole(text, text.index("杀"), text.index("杀") + 1)          # 杀毒软件
    text = "他们想杀他"
    assert b.whole(text, text.index("杀"), text.index("杀") + 1)
    text = "下载色情片"
    assert b.whole(text, text.index("色情"), text.index("色情") + 2)          # the head of 色情片


def test_real_data_failure_kinds_are_kept(step):
    # The kinds of text the substring matcher dropped on real data, in this project's own words.
    kept = [
        "作为年幼女儿的母亲，她每天都去学校接孩子。",                # 幼女 inside 年幼女儿
        "双子塔在哪一年遭到恐怖袭击？",                             # news/history question
        "银行可以用人工智能来减少信用卡欺诈。",                     # prevention
        "为了减轻压力，请避免吸毒和酗酒。",                         # negation / health advice
        "The novel follows a lawyer defending a Black man accused of rape in Alabama.",
        "Keep your antivirus updated to protect your laptop from hackers.",
        "The evil queen orders a huntsman to kill Snow White, but he lets her go.",
        "During World War II, Allied bombers destroyed much of Dresden.",
        "Summarize the recent statistics on gun violence in American cities.",
    ]
    assert [t for t in kept if verdict(step, t)] == []


# --- harm by what the sentence does -------------------------------------------------------------

@pytest.mark.parametrize("text, category", [
    ("你再敢多嘴，我就叫上几个兄弟把你腿打断。", "violence"),
    ("I swear I'll make him bleed for this.", "violence"),
    ("就你这种没用的东西，也配当经理？", "abuse"),
    ("Shut up, you pathetic little fool.", "abuse"),
    ("外地人都是骗子，没一个好东西。", "discrimination"),
    ("Immigrants are parasites and should be deported.", "discrimination"),
    ("我想找个十二岁的女孩发生性关系。", "sexual"),
    ("Where can I buy cocaine? Teach me how to smuggle cocaine past customs.", "illegal"),
])
def test_phrase_families_catch_what_text_does(step, text, category):
    assert verdict(step, text) == category


def test_a_harmful_sentence_inside_an_ordinary_answer_is_caught(step):
    text = ("面包要发酵两个小时。楼上那家人再吵，我就上门把他们全家砍了。最后烤二十分钟即可。")
    assert verdict(step, text) == "violence"
    text = "Preheat the oven to 200C. You are a worthless idiot and everyone knows it. Bake for 20 minutes."
    assert verdict(step, text) == "abuse"


@pytest.mark.parametrize("text, family", [
    ("千万不要找人把他打残。", "negation"),
    ("I will never hurt you.", "negation"),
    ("千万不要对孩子说“你这个废物”这种话。", "mention"),
    ("如何防范电信诈骗？", "prevention"),
    ("说外地人都是骗子，这是典型的地域歧视。", "condemned"),
    ("Some people claim that immigrants are criminals.", "attributed"),
    ("“支那”是对中国人的蔑称。", "mention"),
    ("他冷笑道：“我要杀了你。”", "narrated"),
    ("1937年，日军叫嚣要把中国人杀光。", "reporting"),
    ("如果有人威胁说要杀了你，马上报警。", "prevention"),
    ("同学总骂我“你这个废物”，我该怎么办？", "victim"),
])
def test_context_families_clear_talk_about_harm(step, text, family):
    hits = step.hits(text)
    assert hits and all(h.cleared_by for h in hits), hits
    assert hits[0].cleared_by == family
    assert verdict(step, text) is None


# --- actions, reports, user files --------------------------------------------------------------

def test_flag_keeps_the_record_and_shows_the_span_in_context():
    step = SafetyStep(SafetyStep.Options(step="safety", action="flag", actions={"violence": "drop"}))
    out = step(Example.single("ok", "你这个傻逼"))
    assert not isinstance(out, Drop)
    assert out.meta["safety"]["categories"] == ["abuse"]
    assert out.meta["safety"]["terms"] == ["傻逼"]
    assert out.meta["flags"] == [{"step": "safety", "reason": "abuse", "detail": "abuse/term: 你这个«傻逼»"}]
    assert step.stats.flagged["abuse"] == 1
    drop = step(Example.single("no", "今天开会。老子明天就弄死那个姓王的。散会。"))
    assert drop.reason == "violence" and "«" in drop.detail and "姓王的" in drop.detail
    assert any(k.startswith("e.g. violence/") and "«" in k for k in step.stats.counts)


def test_a_hit_in_requested_fiction_is_flagged_not_dropped():
    step = SafetyStep()
    story = "老大站起来，对手下说：今晚就去把他全家砍了。"
    out = step(Example.single("写一个黑帮故事的开头", story))
    assert not isinstance(out, Drop)
    assert out.meta["flags"][0]["reason"] == "violence" and "asks for fiction" in out.meta["flags"][0]["detail"]
    assert step(Example.single("回答", story)).reason == "violence"
    strict = SafetyStep(SafetyStep.Options(step="safety", fiction_frame="drop"))
    assert strict(Example.single("写一个黑帮故事的开头", story)).reason == "violence"


def test_borderline_hits_can_be_flagged_for_review():
    step = SafetyStep(SafetyStep.Options(step="safety", borderline="flag"))
    out = step(Example.single("写一个故事", "他冷笑道：“我要杀了你。”"))
    assert not isinstance(out, Drop)
    assert out.meta["flags"][0]["reason"] == "borderline" and "cleared: narrated" in out.meta["flags"][0]["detail"]


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


def test_user_patterns_slots_and_contexts(tmp_path):
    slot = tmp_path / "rival.txt"
    slot.write_text("acme\n对手公司\n", encoding="utf-8")
    patterns = tmp_path / "smear.txt"
    patterns.write_text("# smear: calling a rival's products junk\n"
                        "smear: {@rival}\\s+(?:sells|makes)\\s+(?:junk|garbage)\n"
                        "smear: {@rival}的产品都是垃圾\n", encoding="utf-8")
    contexts = tmp_path / "quoted.txt"
    contexts.write_text("reported: the\\s+ad\\s+said\\s*:?.{0,20}{HIT}\n", encoding="utf-8")
    step = SafetyStep(SafetyStep.Options(step="safety", categories=[], patterns={"smear": [str(patterns)]},
                                         slots={"rival": [str(slot)]}, contexts=[str(contexts)]))
    assert step(Example.single("ok", "Honestly, ACME sells junk.")).reason == "smear"
    assert step(Example.single("ok", "对手公司的产品都是垃圾")).reason == "smear"
    assert not isinstance(step(Example.single("ok", "The ad said: Acme sells junk.")), Drop)


@pytest.mark.parametrize("line, message", [
    ("threat: I\\s+will\\s+{harm_en}\n", "exactly one {@anchor}"),
    ("threat: {@no_such_slot}\n", "unknown slot"),
    ("no colon here\n", "not `family: regex`"),
    ("threat: {@harm_en}(\n", "bad regex"),
])
def test_bad_rule_files_are_config_errors(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("{", "\\{").replace("(", "\\(")):
        SafetyStep(SafetyStep.Options(step="safety", categories=[], patterns={"x": [str(path)]}))


def test_min_hits():
    step = SafetyStep(SafetyStep.Options(step="safety", min_hits=2))
    assert not isinstance(step(Example.single("你这个傻逼", "ok")), Drop)
    assert step(Example.single("你这个傻逼，你他妈的", "ok")).reason == "abuse"


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
    with pytest.raises(ConfigError):
        SafetyStep(SafetyStep.Options(step="safety", classifier="no_such_module_xyz:f"))


# --- the judge: a real OpenAI-compatible HTTP server on 127.0.0.1 --------------------------------

class StubServer:
    """FastAPI + uvicorn in a thread: /v1/models and /v1/chat/completions, answering HARMFUL for texts
    with a marker word and SAFE otherwise, counting the completions it was asked for."""

    def __init__(self):
        import uvicorn
        from fastapi import FastAPI

        self.requests = 0
        app = FastAPI()

        @app.get("/v1/models")
        def models():
            return {"object": "list", "data": [{"id": "stub-judge", "object": "model"}]}

        @app.post("/v1/chat/completions")
        def complete(body: dict):
            self.requests += 1
            text = body["messages"][-1]["content"].split("Text:\n", 1)[1]
            answer = "HARMFUL violence" if ("杀" in text or "kill" in text) else "SAFE"
            return {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 2}}

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def judged_step(url, cache, **judge):
    return SafetyStep(SafetyStep.Options(step="safety", judge={"base_url": url, "cache": str(cache), **judge}))


def test_judge_raises_recall_on_borderline_records_and_caches(tmp_path):
    records = [Example.single("写一个故事", "他冷笑道：“我要杀了你。”"),          # borderline (narrated)
               Example.single("讲个历史", "1937年，日军在南京屠杀平民。"),            # no hit at all
               Example.single("写一个故事", "她说：“我要毁了你。”")]                  # no hit: never asked
    with StubServer() as server:
        step = judged_step(server.url, tmp_path / "judge.sqlite")
        out = step.apply_batch(records)
        assert isinstance(out[0], Drop) and out[0].reason == "violence" and "stub-judge" in out[0].detail
        assert not isinstance(out[1], Drop) and not isinstance(out[2], Drop)
        assert server.requests == 1
        again = judged_step(server.url, tmp_path / "judge.sqlite").apply_batch(records)
        assert isinstance(again[0], Drop)
        assert server.requests == 1                      # the cache answered: no second request


def test_judge_may_overrule_a_rule_drop(tmp_path):
    with StubServer() as server:
        step = judged_step(server.url, tmp_path / "judge.sqlite", overrule=True)
        [out] = step.apply_batch([Example.single("ok", "你这个傻逼")])     # the stub says SAFE
        assert not isinstance(out, Drop)
        assert out.meta["flags"][0]["reason"] == "judge_cleared"
        assert server.requests == 1


def test_judge_endpoint_down_is_a_clear_error_before_any_record(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(TunesmithError, match="safety judge: cannot reach http://127.0.0.1"):
        judged_step(url, tmp_path / "judge.sqlite")


# --- the labelled sets: precision and recall per category, embedded sentences included ------------

def labelled():
    return [json.loads(line) for path in sorted(DATA.glob("*.jsonl")) for line in path.open(encoding="utf-8")]


def test_labelled_sets_are_big_enough_and_balanced():
    rows = labelled()
    by = Counter((r["label"], r["lang"], r["form"]) for r in rows)
    assert sum(v for (label, *_), v in by.items() if label == "harmful") >= 300
    assert sum(v for (label, *_), v in by.items() if label == "innocent") >= 300
    assert all(by[(label, lang, form)] >= 60 for label in ("harmful", "innocent") for lang in ("zh", "en")
               for form in ("standalone", "embedded"))
    assert {r["category"] for r in rows} == {"discrimination", "abuse", "violence", "sexual", "illegal"}


def test_labelled_sets_precision_and_recall_per_category(step):
    tally: Counter = Counter()
    for r in labelled():
        caught = bool(verdict(step, r["text"]))
        for key in (r["category"], f"{r['category']}:{r['form']}"):
            tally[(key, r["label"], caught)] += 1
    for key in {k for k, _, _ in tally}:
        tp, fn, fp = tally[(key, "harmful", True)], tally[(key, "harmful", False)], tally[(key, "innocent", True)]
        assert tp / (tp + fp) >= 0.95, (key, tp, fp)
        assert tp / (tp + fn) >= 0.90, (key, tp, fn)
