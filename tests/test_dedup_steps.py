"""The dedup pipeline steps: decisions name the kept twin, keep policies, cluster audit file."""

from __future__ import annotations

import json

import pytest

from tunesmith.prepare.steps.dedup import ExactDedupStep, NearDedupStep, NearOptions, SemanticDedupStep
from tunesmith.records.example import Example, Turn

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
    rows = s.audit()
    assert json.loads(json.dumps(rows)) == rows  # plain JSON rows, as the run writes them to clusters.jsonl
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


# dedup_near's default rule (match: task): the same task with the same answer, not one long shared input.

ABSTRACT = ("本文提出了一种基于图神经网络的交通流量预测方法。我们首先将城市道路网络建模为有向图，节点表示路口，边表示路段，"
            "然后利用时空注意力机制同时捕捉道路之间的空间依赖和流量随时间变化的规律。在两个真实城市数据集上的实验表明，"
            "该方法在平均绝对误差和均方根误差上均优于现有的基线模型，并且在节假日等异常时段也保持了稳定的预测精度。"
            "我们还分析了模型在不同预测步长下的表现，并讨论了计算开销与部署到实际交通管理系统中的可行性。")
PAPER = ("We study how small language models learn arithmetic. Training a 10M-parameter transformer on synthetic "
         "additions, we find that accuracy jumps abruptly once the model has seen about two million examples, and "
         "that the jump coincides with the emergence of attention heads that align digits of equal place value. "
         "Ablating those heads returns accuracy to chance, while ablating any other head costs under one point. "
         "We release the code and the trained checkpoints so that the experiments can be repeated.")


def _near(records, **options):
    return step(NearDedupStep, **options)(records)


def test_one_long_input_asked_different_things_is_not_a_duplicate():
    zh = [Example.single("引用论文中使用的来源", "文中引用了交通数据集与图神经网络的相关工作。", input=ABSTRACT, id="cite"),
          Example.single("为输入中给出的论文写一个摘要", "论文用时空注意力的图神经网络预测交通流量，效果优于基线。", input=ABSTRACT,
                         id="summary")]
    en = [Example.single("Summarize the paper below.", "A small transformer learns addition suddenly.", input=PAPER,
                         id="s"),
          Example.single("List the paper's limitations.", "Only synthetic data; one model size.", input=PAPER, id="l"),
          # The same short answer to two different questions about one input is not the same task either.
          Example.single("Does the paper release its code?", "Yes.", input=PAPER, id="code"),
          Example.single("Is the paper about language models?", "Yes.", input=PAPER, id="lm")]
    assert _near(zh) == [None, None] and _near(en) == [None] * 4
    # The whole text joined, as before: the shared input outvotes the rest (what the issue found).
    assert _near(zh, match="text")[1].twin == "cite"
    assert [d and d.twin for d in _near(en, match="text")] == [None, "s", "s", "s"]


def test_the_same_task_with_small_edits_is_still_a_duplicate():
    base = Example.single("Summarize the paper below in one sentence.", "A small transformer learns addition "
                          "abruptly, when digit-aligning attention heads appear.", input=PAPER, id="a")
    twins = [Example.single("Summarise the paper below in one sentence!", base.output, input=PAPER, id="b"),
             Example.single(base.instruction, base.output.replace("abruptly", "suddenly"), input=PAPER, id="c"),
             Example.single(base.instruction.upper(), base.output, input=PAPER.replace("10M", "10 M"), id="d")]
    decisions = _near([base, *twins])
    assert decisions[0] is None and [d.twin for d in decisions[1:]] == ["a", "a", "a"]
    assert all(d.detail.startswith("jaccard ") for d in decisions[1:])


def test_short_questions_with_one_answer_stay_apart():
    answer = "Hello! I am Aurora, an assistant made by the Lab team. How can I help you today?"
    rs = [Example.single("hi", answer, id="hi"), Example.single("hello", answer, id="hello"),
          Example.single("hi", answer, id="hi again")]
    assert [d and d.twin for d in _near(rs)] == [None, None, "hi"]


def _chat(questions, answers, id):
    return Example([t for q, a in zip(questions, answers) for t in (Turn("user", q), Turn("assistant", a))], None,
                   {"id": id})


def test_conversations_compare_turn_by_turn():
    qs = ["番茄酱配什么意大利面？", "还有哪些面适合番茄酱？", "什么奶酪适合番茄意面？", "意大利面起源于哪里？", "新鲜面和干面有什么不同？"]
    ans = ["通常配意大利直面。", "螺旋面、管面和蝴蝶面都很适合，它们的凹槽能留住酱汁。", "帕尔马干酪或罗马诺羊奶酪都很好。",
           "确切起源不详，一般认为来自古代意大利。", "新鲜面口感更软，干面更耐储存，煮的时间也更长。"]
    translated_first = _chat(["Which pasta goes with tomato sauce?"] + qs[1:], ans, "b")
    other_answers = _chat(qs, ["直面。"] + ["不知道，请查阅资料。"] * 4, "c")
    decisions = _near([_chat(qs, ans, "a"), translated_first, other_answers])
    # One question of five asked in another language: the same conversation. The same questions with
    # other answers: not.
    assert [d and d.twin for d in decisions] == [None, "a", None]


def test_fields_choose_the_parts_that_must_match():
    rs = [Example.single("Same question about the paper", "first answer that is long enough here", input=PAPER,
                         id="x"),
          Example.single("Same question about the paper", "a wholly other reply with other words", input=PAPER,
                         id="y")]
    assert _near(rs) == [None, None]
    assert _near(rs, fields=["instruction", "input"])[1].twin == "x"  # the answer does not take part


@pytest.mark.parametrize("seed", [5])
def test_planted_duplicate_records_are_found_with_the_task_rule(seed):
    import random

    from tunesmith.dedup.synthetic import Planter, pair_scores

    p, rng = Planter(seed), random.Random(seed)
    records, groups, originals = [], [], []
    while len(records) < 2000:
        if originals and rng.random() < 0.3:
            group, (ins, inp, out) = rng.choice(originals)
            change = rng.choice(["copy", "format", "instruction", "answer", "both"])
            if change == "format":
                ins, inp, out = p.reformat(ins), inp and p.reformat(inp), p.reformat(out)
            ins = p.edit(ins) if change in ("instruction", "both") else ins
            out = p.edit(out) if change in ("answer", "both") else out
        else:
            zh = rng.random() < 0.5
            ins = p.chinese(24) if zh else p.latin(60)
            inp = (p.chinese(40) if zh else p.latin(100)) if rng.random() < 0.4 else ""
            out = p.chinese(80) if zh else p.latin(200)
            group = len(originals)
            originals.append((group, (ins, inp, out)))
        records.append(Example.single(ins, out, input=inp or None, id=str(len(records))))
        groups.append(group)
    s = step(NearDedupStep)
    s(records)
    clusters = [[int(c["kept"])] + [int(m["id"]) for m in c["dropped"]] for c in s.clusters]
    precision, recall = pair_scores(clusters, groups)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
