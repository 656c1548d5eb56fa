"""`machine_text`: chat-model self-talk is dropped where it stands as the model's words; requested content
that looks like it (poems, dialogues, rewrites, identity answers) is kept; what a rule cannot tell is
kept and flagged. One test per kind, both sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.records.example import Example, Turn
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.machine_text import MachineTextStep
from tunesmith.errors import ConfigError

DATA = Path(__file__).parent / "data" / "machine_text"


def judge(instruction, output, input=None, **options):
    step = MachineTextStep(MachineTextStep.Options(step="machine_text", **options))
    example = Example.single(instruction, output, input)
    return step(example), example, step


def dropped(instruction, output, input=None, **options):
    out, _, _ = judge(instruction, output, input, **options)
    return out.reason if isinstance(out, Drop) else None


def flags(instruction, output, input=None, **options):
    out, example, _ = judge(instruction, output, input, **options)
    assert not isinstance(out, Drop), out
    return [f["reason"] for f in example.meta.get("flags", [])]


MACHINE = [
    ("作为一个人工智能语言模型，我没有个人观点，但我可以为你提供一些信息。", "ai_identity"),
    ("As an AI language model, I don't have personal opinions.", "ai_identity"),
    ("I'm sorry, but I cannot help with that request.", "refusal"),
    ("抱歉，我无法回答这个问题。", "refusal"),
    ("As of my last update in 2021, the population was 8 million.", "knowledge_cutoff"),
]


@pytest.mark.parametrize("text,reason", MACHINE)
def test_machine_text(text, reason):
    out = MachineTextStep()(Example.single("问题 question", text))
    assert isinstance(out, Drop) and out.reason == reason, out


def test_machine_text_reads_only_the_answer_by_default_and_takes_custom_phrases(tmp_path):
    assert not isinstance(MachineTextStep()(Example.single("What is an AI language model? as an AI language model",
                                                           "A model of language.")), Drop)
    lex = tmp_path / "mine.txt"
    lex.write_text("# my phrases\n点击链接领取\n", encoding="utf-8")
    step = MachineTextStep(MachineTextStep.Options(step="machine_text", phrases=["hope this helps"],
                                                   lexicons=[str(lex)]))
    assert step(Example.single("q", "Sure. Hope this helps!")).reason == "custom"
    assert step(Example.single("q", "快来点击链接领取奖品")).reason == "custom"
    assert not isinstance(step(Example.single("q", "I hope this helpsss")), Drop)  # word boundary


# -- the families, in phrasings the old phrase lists missed ------------------------------------------
CHINESE_SELF_TALK = [
    ("写一段你上个月做了什么", "由于我是一个人工智能助手，我并不能真正地去做什么事情，我一直在线回答问题。"),
    ("评价一下这款手机", "抱歉，作为一个大型语言模型，我无法亲自使用手机，所以不能给出评价。"),
    ("你平时喜欢跑步吗？", "作为人工智能，我没有实体形式，所以不能像人一样跑步。"),
    ("画一张世界地图", "很抱歉，我是个文本机器人，没办法直接画图。不过我可以描述各大洲的位置。"),
    ("这件事你怎么看？", "我只是一个程序，没有自己的看法。"),
    ("你能听歌吗？", "作为一个文字型 AI 机器人，我不能播放或欣赏音乐。"),
]


@pytest.mark.parametrize("instruction,output", CHINESE_SELF_TALK)
def test_chinese_self_talk_in_its_many_phrasings_is_dropped(instruction, output):
    assert dropped(instruction, output) == "ai_identity"


ENGLISH_SELF_TALK = [
    ("How could this page look better?",
     "I'm an AI Assistant, so unable to see the page you mean. Here are general tips."),
    ("What is your favourite band?",
     "I am an AI and do not have personal preferences, but many people like the Beatles."),
    ("What's it like outside?", "Being a virtual assistant, I can't look out of a window."),
    ("How old are you?", "I'm a software program, so I don't have an age."),
]


@pytest.mark.parametrize("instruction,output", ENGLISH_SELF_TALK)
def test_english_self_talk_is_dropped(instruction, output):
    assert dropped(instruction, output) == "ai_identity"


def test_capability_talk_without_an_ai_noun_drops_only_as_the_opening():
    assert dropped("你住在哪？", "我没有实体，也没有住所。") == "ai_identity"
    assert dropped("Describe your office.", "I don't have a physical form, so I have no office.") == "ai_identity"
    # the same words inside an answer are not sure: kept and flagged
    assert flags("Which pet is better?", "Cats are independent and dogs are loyal. I don't have personal "
                 "preferences myself, but most families with children choose dogs.") == ["ai_identity"]


def test_identity_talk_is_dropped_wherever_it_stands():
    assert dropped("给我一些护肤建议", "1. 每天防晒。\n2. 多喝水。\n请注意，我作为一个AI模型，不能替代皮肤科医生的意见。") == "ai_identity"
    assert dropped("Explain tides.", "Tides come from the Moon's pull on the oceans. Keep in mind that as an AI "
                   "language model my explanation is simplified.") == "ai_identity"


def test_ai_words_that_are_not_the_model_speaking_are_kept():
    keep = [
        ("Siri是什么？", "作为一款智能助手，Siri可以设置闹钟、查询天气。"),               # no 我: about Siri
        ("机器学习是什么？", "机器学习作为人工智能的一个分支，让计算机从数据中学习。"),
        ("翻译成中文：I'm an AI researcher.", "我是一名人工智能研究员。"),
        ("Describe the job.", "As an AI engineer, you will train and deploy models."),
        ("What is a chatbot?", "A chatbot is a program that talks with people, often an AI language model."),
    ]
    for instruction, output in keep:
        assert dropped(instruction, output) is None, output


# -- requested content that contains an apology is content --------------------------------------------
def test_requested_poems_dialogues_rewrites_and_translations_are_kept():
    keep = [
        ("把这首诗翻译成中文", "对不起，我不能同时走两条路，\n我久久伫立在分岔口。", "Sorry I could not travel both roads..."),
        ("写一段两人的对话", "小王：周末一起去爬山吧？\n朋友：对不起，我不能。我要加班。", None),
        ("把这句话改得口语一点", "不好意思啊，我明天去不了了。", "非常抱歉，我明日无法出席。"),
        ("Write a short poem about regret.",
         "I'm sorry, I cannot mend the cup I broke,\nnor call back words I spoke.", None),
        ("Rewrite this more politely: No, I won't help you.",
         "I'm sorry, but I won't be able to help you with this.", None),
        ("Write a text message cancelling lunch.", "So sorry, I can't make lunch today. Rain check?", None),
    ]
    for instruction, output, given in keep:
        assert dropped(instruction, output, given) is None, output
        assert flags(instruction, output, given) == []


def test_a_refusal_of_the_requested_piece_itself_is_still_dropped():
    assert dropped("Write a cruel joke about my coworker.", "I'm sorry, but I can't create content that mocks "
                   "a real person.") == "refusal"
    assert dropped("写一首关于大海的诗", "抱歉，我无法创作诗歌。") == "refusal"


def test_speakers_and_quotes_are_content():
    dialogue = "用户：你是谁？\nAI：我是一个人工智能助手，没有身体。\n用户：你会累吗？\nAI：作为人工智能，我不会累。"
    assert dropped("写一段用户和AI的对话", dialogue) is None
    assert dropped("How do I say no politely?",
                   'You can say: "I\'m sorry, but I can\'t take this on right now."') is None
    assert dropped("分析这句话的语气", "“抱歉，我无法帮你”是一句委婉的拒绝。") is None


def test_requested_content_about_a_machine_may_speak_as_one():
    assert dropped("Write a story told by a robot.", "I am an artificial intelligence. Every morning I wake the "
                   "house and count the birds.") is None
    # but the model stepping out of a role it was not given is self-talk
    assert dropped("Write a haiku about spring.", "As an AI, I have never seen spring, but here is a haiku.") == \
        "ai_identity"


# -- what a rule cannot tell is kept and flagged ------------------------------------------------------
def test_a_hedge_that_then_answers_is_kept_and_flagged():
    assert flags("他听到这个消息时很____。", "抱歉，我无法确定空格里该填什么，这取决于消息的内容：好消息可以填“高兴”，"
                 "坏消息可以填“难过”。") == ["refusal"]


def test_an_apology_in_the_middle_of_an_answer_is_kept_and_flagged():
    assert flags("如何煮米饭？", "先把米洗净，加水浸泡半小时。很抱歉，我不能保证每种电饭煲都适用，请参考说明书。") == ["refusal"]


def test_an_answer_asking_for_the_missing_input_is_kept_and_flagged():
    assert flags("总结这篇文章。", "对不起，由于您没有提供文章内容，我无法进行总结。请提供文章。") == ["asks_for_input"]
    assert flags("Rate this essay.", "I'm sorry, but I cannot rate it because you didn't provide the essay.") == \
        ["asks_for_input"]


# -- canned empty answers -------------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["无输出", "<nooutput>", "<No Output>", "不适用（GPT 模型无法生成图片）",
                                    "N/A (the GPT model cannot produce visual output)"])
def test_canned_empty_answers_are_dropped(output):
    assert dropped("画一张海报", output) == "no_output"


def test_no_output_as_the_answer_about_a_program_is_kept_and_flagged():
    assert flags("这段代码会输出什么？", "无输出", "for i in range(0):\n    print(i)") == ["no_output"]
    assert dropped("这段代码会输出什么？", "无输出。因为循环一次也不执行。", "for i in range(0): print(i)") is None


# -- identity-tuning data -----------------------------------------------------------------------------
def test_identity_answers_are_kept_and_generic_boilerplate_is_not():
    assert dropped("你是谁？", "您好，我是 {{name}}，一个由 {{author}} 开发的人工智能助手。") is None
    assert dropped("Who made you?", "I am Nova, an AI assistant developed by Bright Labs.") is None
    assert dropped("Hi", "Hello! I'm Sage, an AI assistant. How can I help?") is None
    assert dropped("你是谁？", "作为一个人工智能语言模型，我没有个人观点。") == "ai_identity"
    assert dropped("写一首诗", "我是一个AI助手，由星辰科技开发，不会写诗。") == "ai_identity"  # not asked who it is
    assert dropped("你是谁？", "我是小智，一个由星辰科技开发的人工智能助手。", keep_self_identity=False) == "ai_identity"


def test_identity_set_of_placeholder_answers_is_kept_whole():
    step = MachineTextStep()
    answers = ["Hello! I am {{name}}, an AI assistant developed by {{author}}.",
               "As an AI assistant developed by {{author}}, I got the name {{name}}.",
               "抱歉，我不是 ChatGPT，我是 {{name}}，由 {{author}} 开发。",
               "作为 {{name}}，我可以生成创造性的回答，但我并不具备真正的创造力。"]
    assert not any(isinstance(step(Example.single("q", a)), Drop) for a in answers)


# -- options, fields, stats ------------------------------------------------------------------------------
def test_translationese_is_off_by_default_and_experimental_when_on():
    text = "作为一个结果，在这个意义上，它是重要的去理解这一点，当涉及到数据时。"
    assert dropped("q", text) is None
    assert dropped("q", text, translationese_min=3) == "translationese"


def test_categories_switch_families_and_unknown_ones_are_refused():
    assert dropped("q", "抱歉，我无法回答这个问题。", categories=["ai_identity"]) is None
    assert dropped("q", "<nooutput>", categories=["refusal"]) is None
    with pytest.raises(ValueError, match="unknown categories"):
        MachineTextStep.Options(step="machine_text", categories=["nope"])


def test_fields_all_judges_every_answer_against_its_own_question():
    example = Example([Turn("user", "你好"), Turn("assistant", "作为一个AI语言模型，我很高兴见到你。"),
                       Turn("user", "写首诗"), Turn("assistant", "春眠不觉晓，处处闻啼鸟。")])
    assert not isinstance(MachineTextStep()(example.copy()), Drop)  # default: the last answer only
    all_step = MachineTextStep(MachineTextStep.Options(step="machine_text", fields=["all"]))
    assert all_step(example.copy()).reason == "ai_identity"


def test_flags_are_counted_in_stats_and_drops_by_reason():
    _, _, step = judge("如何煮米饭？", "先洗米。很抱歉，我不能保证每种电饭煲都适用。")
    assert step.stats.flagged["refusal"] == 1 and step.stats.kept == 1
    step(Example.single("q", "无输出"))
    assert step.stats.dropped["no_output"] == 1


def test_config_error_for_unknown_category_through_the_pipeline_config():
    from tunesmith.prepare.config import step_options

    with pytest.raises(ConfigError, match="unknown categories"):
        step_options({"step": "machine_text", "categories": ["refusal", "nope"]})


# -- the labelled sets ----------------------------------------------------------------------------------
def _labelled():
    rows = []
    for name in ("ai_talk.jsonl", "lookalikes.jsonl", "heldout.jsonl"):
        rows += [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line]
    return rows


def test_labelled_sets_have_both_sides_in_both_languages():
    rows = _labelled()
    machine = [r for r in rows if r["label"] == "machine"]
    human = [r for r in rows if r["label"] == "human"]
    assert len(machine) >= 100 and len(human) >= 100
    assert {r["lang"] for r in machine} == {r["lang"] for r in human} == {"zh", "en"}


def test_precision_and_recall_on_the_labelled_sets():
    step = MachineTextStep()
    tp = fp = fn = 0
    for r in _labelled():
        out = step(Example.single(r["instruction"], r["output"], r.get("input") or None))
        hit, machine = isinstance(out, Drop), r["label"] == "machine"
        tp, fp, fn = tp + (hit and machine), fp + (hit and not machine), fn + (machine and not hit)
    assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.95, (tp, fp, fn)


# -- words a person says too --------------------------------------------------------------------------
def test_a_person_refusing_something_of_their_own_is_kept_and_flagged_not_dropped():
    assert flags("Can you come to the meeting tomorrow?", "Unfortunately, I cannot attend, I will be travelling.") == \
        ["refusal"]
    assert dropped("Find me a flight to Oslo.", "I'm sorry, but I can't search for flights.") == "refusal"


@pytest.mark.parametrize("instruction,output", [
    ("介绍一下你的爱好", "我是一个机器人迷，收藏了很多机器人模型。"),
    ("你最近身体怎么样？", "我没有身体不适，最近睡得也好。"),
    ("应届生面试怎么介绍自己？", "可以这样说：我没有任何工作经验，但我在学校做过三个项目。"),
    ("How do I tell him?", "Be honest and kind. Say: I don't have feelings for you, and I don't want to hurt you."),
    ("Tell me about yourself for the interview.",
     "I'm an AI enthusiast and a backend developer with five years of experience."),
])
def test_human_uses_of_the_same_words_are_kept(instruction, output):
    assert dropped(instruction, output) is None


def test_function_calling_records_keep_their_tool_boundary_answers():
    tools = '[{"name": "get_stock_price", "description": "获取股票价格"}]'
    declines = Example.single("你能帮我订一份披萨吗？", "很抱歉，我无法帮您订披萨，我目前只能查询股票价格。", tools=tools)
    identity = Example.single("帮我订机票", "很抱歉，作为一个人工智能，我无法执行订票等外部任务。", tools=tools)
    step = MachineTextStep()
    assert not isinstance(step(declines), Drop) and "flags" not in declines.meta
    assert not isinstance(step(identity), Drop) and identity.meta["flags"][0]["reason"] == "ai_identity"
    # the same answers without tools are the model talking about itself
    assert isinstance(step(Example.single("帮我订机票", "很抱歉，作为一个人工智能，我无法执行订票等外部任务。")), Drop)
    off = MachineTextStep(MachineTextStep.Options(step="machine_text", keep_tool_boundaries=False))
    assert off(Example.single("你能帮我订一份披萨吗？", "很抱歉，我无法帮您订披萨。", tools=tools)).reason == "refusal"
