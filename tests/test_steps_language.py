"""`language`: labels on short text, what counts as prose, whose language a record is, and the keep list.

Every failure kind found on real instruction data has a test here with records written for it: the
record a careful reader keeps is kept, and the planted bad one is still dropped.
"""

from __future__ import annotations

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.language import LanguageDetector, LanguageStep
from tunesmith.errors import ConfigError


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector()


def step(keep):
    return LanguageStep(LanguageStep.Options(step="language", keep=keep))


LANGUAGE = [
    ("今天天气很好，我们去公园散步吧。", "zh"),
    ("用Python写一个快速排序", "zh"),
    ("解释一下 GPU 和 CPU 的区别", "zh"),
    ("The weather is nice today, let's go for a walk.", "en"),
    ("Write a haiku about autumn.", "en"),
    ("今日はいい天気ですね。", "ja"),
    ("Bonjour, comment allez-vous aujourd'hui ?", "fr"),
    ("Wie spät ist es jetzt bitte?", "de"),
    ("오늘 날씨가 정말 좋네요.", "ko"),
    ("12345 + 678", "unknown"),
]


def test_language_labels_short_text(detector):
    got = [(text, detector.label(text)) for text, _ in LANGUAGE]
    wrong = [(t, g, want) for (t, g), (_, want) in zip(got, LANGUAGE) if g != want]
    assert not wrong, wrong


# Chinese prose full of Latin-script material: every one is Chinese.
CHINESE_WITH_MATERIAL = [
    "常用的浏览器有Google Chrome，Mozilla Firefox和Microsoft Edge。",                       # brands, products
    "推荐几本书：《The Pragmatic Programmer》、Clean Code: A Handbook of Agile Software Craftsmanship。",  # titles
    "日本歌手有：宇多田光 (Utada Hikaru)、滨崎步 (Ayumi Hamasaki)、Mr. Children 和サカナクション。",  # romanised, katakana
    "“谢谢”的拼音是 xiè xie，“再见”的拼音是 zài jiàn，都是常用语。",                           # pinyin
    "冰雪(snow), 寒冷(cold), 热饮(hot drink), 冬至(Winter solstice), 滑冰(ice skating)",  # glosses
    "你的新密码是 xK9#mP2qLw，请妥善保管，不要告诉别人。",                                  # a password
    "计算句子\"I want to go for a walk and then have a coffee\"中的单词数。",               # quoted English
    "使用 `kill -9 PID` 强制结束进程，或者先试试 `kill PID` 看看它会不会自己退出。",          # inline code
    "下面是代码：\ndef add(a, b):\n    # Add two numbers and return the sum of them\n    return a + b\n"
    "print(add(1, 2))  # prints the result of the call",                                 # bare code, English comments
    "```python\n# Read every line of the file and print the ones that are not empty\nfor line in open(p):\n"
    "    print(line)\n```\n这段代码逐行读取文件。",                                          # fenced code
    '好的，我来查一下。\n{"name": "get_weather", "arguments": {"city": "Beijing", "unit": "celsius"}}',  # a tool call
]


@pytest.mark.parametrize("text", CHINESE_WITH_MATERIAL)
def test_chinese_that_names_or_quotes_latin_material_is_chinese(detector, text):
    assert detector.label(text) == "zh"


def test_mixed_means_real_mixed_prose(detector):
    # A Chinese answer that switches into English sentences is mixed, and so is English with Chinese prose.
    assert detector.label("托马斯·爱迪生（Thomas Edison） was an American inventor and businessman who is known "
                          "for the light bulb. 他被誉为发明大王，一生获得了一千多项专利。") == "mixed:en+zh"
    assert detector.label("Translate to Chinese: The weather is really nice today. 今天天气很好。") == "mixed:en+zh"
    # Latin-script text stays Latin-script text when it names a few Chinese characters.
    assert detector.label("The Chinese character 爱 means love, and people write it on cards.") == "en"


def test_code_alone_is_unknown_and_kept(detector):
    assert detector.label("def f(x):\n    return x * 2") == "unknown"
    assert detector.label('{"name": "get_weather", "arguments": {"city": "Beijing"}}') == "unknown"
    code = Example.single("def f(x):\n    return x * 2", "def g(x):\n    return f(x) + 1")
    assert not isinstance(step(["zh"])(code), Drop)


def test_kana_makes_japanese_only_as_a_share_of_the_text(detector):
    assert detector.label("今日はいい天気ですね。散歩に行きましょう。") == "ja"
    assert detector.label("コンピュータ・サイエンス") == "ja"  # katakana alone is Japanese
    assert detector.label("这支乐队叫サカナクション，他们来自北海道，音乐风格很独特。") == "zh"


def test_translation_is_judged_by_its_answer():
    into_zh = Example.single("Translate to Chinese: The weather is really nice today.", "今天天气很好。")
    assert not isinstance(step(["zh"])(into_zh.copy()), Drop)
    into_en = Example.single("把下面的句子翻译成英文：今天天气很好。", "The weather is nice today.")
    assert not isinstance(step(["en"])(into_en.copy()), Drop)
    # asked for in a kept language: a Chinese user asking for English is a Chinese record
    assert not isinstance(step(["zh"])(into_en.copy()), Drop)
    # neither the answer's language nor the request's is kept: dropped
    into_fr = Example.single("Translate into French: Good morning, how are you today?",
                             "Bonjour, comment allez-vous aujourd'hui ?")
    out = step(["zh"])(into_fr)
    assert isinstance(out, Drop) and out.detail == "fr (translation)"


def test_an_answer_in_another_language_is_still_dropped():
    s = step(["zh"])
    out = s(Example.single("安排明天上午10点的会议。", "Certainly, I will schedule a meeting for you tomorrow "
                                                  "morning and send the invitations to everyone."))
    assert isinstance(out, Drop) and out.reason == "language"
    out = s(Example.single("托马斯·爱迪生是谁？", "托马斯·爱迪生（Thomas Edison） was an American inventor and "
                                             "businessman who is known for the light bulb. 他被誉为发明大王。"))
    assert isinstance(out, Drop) and out.detail == "mixed:en+zh"
    out = s(Example.single("列出四张披头士专辑。", "Here is a list of four albums by The Beatles: Abbey Road, "
                                             "Revolver, Let It Be and Help."))
    assert isinstance(out, Drop)


def test_a_task_about_text_in_another_language():
    s = step(["zh"])
    # the input is material the task works on
    voice = Example.single("判断下面句子是主动语态还是被动语态。", "这个句子是被动语态。",
                           input="The dog was taken for a walk by the children.")
    assert not isinstance(s(voice), Drop)
    # the request starts in Chinese and the answer is Chinese: the French it asks about is material
    which = Example.single("判断下面这段文字是哪种语言：Votre chien a essayé différents jouets avec plaisir, "
                           "mais il est trop intelligent.", "这段文字是法语。")
    assert not isinstance(s(which), Drop)
    # an exercise about an English word, answered in English: kept and flagged for review
    word = s(Example.single("用“serendipity”造一个句子。", "Finding my favourite book in a tiny shop was pure "
                                                      "serendipity, and I still remember that afternoon."))
    assert not isinstance(word, Drop)
    assert word.meta["flags"] == [{"step": "language", "reason": "language_exercise",
                                   "detail": "asked in zh, answered in en"}]
    assert s.stats.flagged["language_exercise"] == 1


def test_the_system_prompt_is_context():
    s = step(["zh"])
    chinese = Example.single("请介绍北京", "北京是中国的首都。")
    chinese.system = "You are a helpful assistant."  # a stock English line in a Chinese set
    assert not isinstance(s(chinese), Drop)
    english = Example.single("Tell me about Beijing.", "Beijing is the capital of China.")
    english.system = "你是一个乐于助人的助手。"
    assert isinstance(s(english), Drop)
    only = Example.single("", "")
    only.system = "你是一个乐于助人的助手，请用中文回答。"  # nothing else to tell by: the context decides
    assert s.detector.label(only.system) == "zh" and not isinstance(s(only), Drop)


def test_language_keep_list_and_mixed():
    s = step(["zh"])
    assert not isinstance(s(Example.single("今天天气很好", "是的，很适合出去走走。")), Drop)
    assert s(Example.single("How are you?", "I am fine, thanks.")).detail == "en"
    mixed = Example.single("介绍一下爱迪生。", "托马斯·爱迪生 was an American inventor who is known for the light "
                                        "bulb and the phonograph. 他被誉为发明大王。")
    assert s(mixed.copy()).reason == "language"  # en+zh, en not kept
    both = step(["zh", "en"])
    assert not isinstance(both(mixed.copy()), Drop)
    assert both.stats.counts["lang:mixed:en+zh"] == 1
    assert both(Example.single("Bonjour, comment allez-vous aujourd'hui ?", "Très bien, merci beaucoup.")).reason \
        == "language"


@pytest.mark.parametrize("bad,near", [("chinese", "zh"), ("Chinese", "zh"), ("zh-CN", "zh"), ("jp", "ja"),
                                      ("englsh", "en"), ("mixd", "mixed")])
def test_a_bad_language_code_is_refused_with_a_suggestion(bad, near):
    from tunesmith.prepare.config import step_options

    with pytest.raises(ConfigError, match=rf"'{bad}' is not a language code \(did you mean '{near}'\?\)"):
        step_options({"step": "language", "keep": [bad, "en"]}, 1)


def test_every_code_fasttext_knows_is_accepted(detector):
    from tunesmith.prepare.config import step_options
    from tunesmith.prepare.steps.language_codes import LANGUAGES

    assert len(LANGUAGES) == 176  # lid.176
    said = set()
    for text in ("hello world", "你好", "привет", "مرحبا", "नमस्ते", "Bonjour", "こんにちは", "xyz qqq"):
        said |= {label.replace("__label__", "") for _, label in detector._model.f.predict(text + "\n", -1, 0.0,
                                                                                          "replace")}
    assert said <= set(LANGUAGES) and len(said) > 150
    assert step_options({"step": "language", "keep": ["yue", "wuu", "mixed", "unknown"]}).keep[0] == "yue"


def test_language_of_text_with_an_undecodable_byte(detector):
    # surrogateescape keeps a bad byte as a lone surrogate, which fastText cannot take as UTF-8
    assert detector.label("Bonjour, comment allez-vous \udc80 aujourd'hui ?") == "fr"
