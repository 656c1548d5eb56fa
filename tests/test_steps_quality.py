"""`quality`: planted bad answers are dropped; answers that are what their task asked for are kept.

One test per failure kind found on real instruction data, both sides, with records written here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.prepare.steps.quality import QualityStep

BAD_QUALITY = [
    (Example.single("Tell me a joke.", ""), "empty_output"),
    (Example.single("Tell me a joke.", "   "), "empty_output"),
    (Example.single("Tell me a joke.", "……！"), "trivial_output"),
    (Example.single("What is the capital of France?", "what is the capital of France"), "output_echoes_input"),
    (Example.single("介绍一下北京", "北京是中国的首都。北京是中国的首都。北京是中国的首都。北京是中国的首都。"), "repetitive"),
    (Example.single("Say something", "I don't know. " * 12), "repetitive"),
    (Example.single("Describe it", "see @@@ ### $$$ %%% ^^^ &&& *** ~~~ ||| here"), "special_characters"),
    # more of each kind, as they occur in real data
    (Example.single("Summarise the sentence.", "The cat sat on the mat all day long.",
                    input="The cat sat on the mat all day long."), "output_echoes_input"),
    (Example.single("讲个笑话", "哈" * 40), "repetitive"),
    (Example.single("What do you think?", "I don't know I don't know I don't know I don't know I don't know "
                                          "I don't know I don't know"), "repetitive"),
    (Example.single("介绍一下长城", "长城是古代的防御工程。" + "它很长很长很长。" * 9), "repetitive"),
    (Example.single("Describe the weather.", "%%% $$$ ^^^ ~~~ *** >>> <<< ||| @@@ sunny ###"), "special_characters"),
    (Example.single("你好", "。。。！！！"), "trivial_output"),
]


def good(instruction: str, output: str, **kw) -> Example:
    return Example.single(instruction, output, **kw)


def kept(example: Example, step: QualityStep | None = None) -> bool:
    return not isinstance((step or QualityStep())(example), Drop)


@pytest.mark.parametrize("example,reason", BAD_QUALITY)
def test_quality_catches_each_bad_kind(example, reason):
    out = QualityStep()(example)
    assert isinstance(out, Drop) and out.reason == reason, out


# --- repetitive -----------------------------------------------------------------------------------------

PARALLEL = [
    good("主语和宾语有什么区别？",
         "主语和宾语都是句子成分，它们分别表示动作的发出者和承受者。\n\n主语指的是动作的发出者，它回答了“谁”或“什么”在做。"
         "例如，在句子“小明踢球”中，小明就是主语，表示踢球的是谁。\n\n宾语指的是动作的承受者，它回答了“谁”或“什么”被做。"
         "例如，在句子“小明踢球”中，球就是宾语，表示被踢的是什么。\n\n两者的区别在于主语表示动作的发出者，而宾语表示动作的承受者。"),
    good("列出四本小说和出版年份。", '1. "小说甲" - 科幻小说，出版于1990年\n2. "小说乙" - 科幻小说，出版于1995年\n'
                                  '3. "小说丙" - 科幻小说，出版于2001年\n4. "小说丁" - 科幻小说，出版于2008年'),
    good("Compare cats and dogs.", "Cats are independent animals that like to sleep a lot. Dogs are social animals "
                                  "that like to play a lot. Cats are easy to keep in a flat. Dogs are easy to train."),
    good("Write a short song about the sea.", "The waves come in, the waves go out,\nThe sea is all I think about.\n\n"
         "Chorus:\nOh sea, oh sea, you call to me,\nOh sea, oh sea, you set me free.\n\nThe gulls fly high, the sun "
         "goes down,\nThe boats come back into the town.\n\nChorus:\nOh sea, oh sea, you call to me,\n"
         "Oh sea, oh sea, you set me free."),
    good("做一个乘法表的一部分", "| 乘数 | 1 | 2 |\n| --- | --- | --- |\n| 1 | 1 | 2 |\n| 2 | 2 | 4 |\n"
                           "| 是否偶数 | 否 | 是 |\n| 是否偶数 | 否 | 是 |"),
    good("Print a separator three times in Python.", "print('-' * 20)\nprint('-' * 20)\nprint('-' * 20)"),
]


@pytest.mark.parametrize("example", PARALLEL, ids=lambda e: e.instruction[:20])
def test_parallel_structure_lists_tables_songs_and_code_are_not_loops(example):
    assert kept(example)


def test_a_task_that_asks_for_repetition_gets_it():
    assert kept(good("把“加油”重复十遍", "加油" * 10))
    assert kept(good("Repeat 'hello world' five times.", "hello world\n" * 5))
    assert not kept(good("Say hello.", "hello world.\n" * 5))


# --- special characters and symbol answers --------------------------------------------------------------

ASKED_FOR_SYMBOLS = [
    good("Write a regex that matches an email address.", r"^[\w.+-]+@[\w-]+\.[\w.-]+$"),
    good("生成一个包含大小写字母、数字和符号的强密码。", "Xk#9$mP2!qL@"),
    good("用emoji表达开心的心情", "😀😃😄🥳🎉"),
    good("Translate SOS into Morse code.", "... --- ..."),
    good("画一个ASCII艺术的猫", " /\\_/\\\n( o.o )\n > ^ <"),
    good("写出勾股定理的公式", "a² + b² = c²"),
    good("Which is larger, 5 or 3? Answer with > or <.", ">"),
    good("这句话末尾应该用什么标点？", "？"),
    good("Make a table of two fruits and their colours.", "| Fruit | Colour |\n|---|---|\n| Apple | Red |\n"
                                                        "| Banana | Yellow |"),
    good("How do I centre a div?", "Use flexbox:\n.parent { display: flex; justify-content: center; }\n"
                                   "Then the child is centred."),
]


def test_letters_with_vowel_signs_are_not_symbols():
    # Devanagari, Thai and Arabic carry combining marks, which are not \w: they are letters, not symbols.
    assert kept(good("What is the Hindi word for 'American'?", "अमेरिकी"))
    assert kept(good("How do you say hello in Thai?", "สวัสดีครับ"))
    assert kept(good("Write 'welcome' in Arabic with its vowel marks.", "مَرْحَبًا بِكُمْ"))


@pytest.mark.parametrize("example", ASKED_FOR_SYMBOLS, ids=lambda e: e.instruction[:20])
def test_a_task_that_asks_for_symbols_gets_them(example):
    assert kept(example)


def test_symbols_nobody_asked_for():
    step = QualityStep()
    emoji = step(good("How do you feel today?", "😊"))
    assert not isinstance(emoji, Drop)  # an emoji answer may be fine: kept, flagged for review
    assert emoji.meta["flags"][0]["reason"] == "symbols_only" and step.stats.flagged["symbols_only"] == 1
    assert step(good("How do you feel today?", "……")).reason == "trivial_output"
    assert step(good("Describe your day.", "#$%^ &*() @!~` +=_- ^^^ ***")).reason == "trivial_output"
    # symbols nobody asked for, around a few words, are still symbol soup
    assert step(good("Describe your day.", "ok #$%^ &*() @!~` +=_- ^^^ *** fine")).reason == "special_characters"


# --- echo ------------------------------------------------------------------------------------------------

def test_an_edit_the_task_asked_for_is_not_an_echo():
    assert kept(good("Proofread the sentence and add any missing punctuation.", "Finally, Tom went to the bakery.",
                     input="Finally Tom went to the bakery"))
    assert kept(good("Correct the grammar of the sentence.", "The dog wagged its tail.",
                     input="The dog wagged it's tail."))
    assert kept(good("Divide the text into two paragraphs.", "The sun rose early. The birds sang.\n\nThe day was warm.",
                     input="The sun rose early. The birds sang. The day was warm."))
    assert kept(good("给下面的句子加上标点。", "今天下雨了，我们不去公园了。", input="今天下雨了我们不去公园了"))


def test_an_unchanged_input_for_an_edit_task_is_kept_and_flagged():
    step = QualityStep()
    same = "He was born in 1990. He finished school in 2008. He started work in 2012."
    out = step(good("Put the sentences in chronological order.", same, input=same))
    assert not isinstance(out, Drop) and out.meta["flags"][0]["reason"] == "unchanged_input"


def test_a_short_echo_may_be_an_extraction_answer():
    step = QualityStep()
    out = step(good("Extract the fruit from the input.", "Apple", input="apple"))
    assert not isinstance(out, Drop) and out.meta["flags"][0]["reason"] == "short_echo"
    # an echo of the question is dropped whatever the task
    assert step(good("Fix this: What is the capital of France?", "Fix this: what is the capital of France")).reason \
        == "output_echoes_input"


# --- the measures themselves ------------------------------------------------------------------------------

ECHO_ALPHABET = "abcAxXYZ 你好，。!?_-İi\n"  # cases, Han, punctuation, and İ (two characters lower-cased)


@given(st.text(alphabet=ECHO_ALPHABET, max_size=60), st.text(alphabet=ECHO_ALPHABET, max_size=60),
       st.booleans())
@settings(max_examples=300, deadline=None)
def test_echo_prefilter_never_rejects_a_real_echo(output, other, same):
    from tunesmith.prepare.steps.quality_text import NORMALISE, could_echo, same_words

    other = output if same else other
    said = NORMALISE.sub("", output).lower()
    if said and same_words(said, other):
        assert could_echo(output, other)


_SENTENCE = st.text(alphabet="的是我们北京中国abc xyz", min_size=4, max_size=20).filter(
    lambda s: s.strip() == s and any(c.isalpha() for c in s))


@given(_SENTENCE, st.integers(3, 8), st.sampled_from(["。", "！", "\n", ". "]))
@settings(max_examples=200, deadline=None)
def test_copies_of_one_sentence_are_a_loop(sentence, copies, end):
    from tunesmith.prepare.steps.quality_text import loop_share

    assert loop_share((sentence + end) * copies) >= (copies - 1) / copies - 1e-9


@given(st.lists(st.integers(0, 10 ** 6), min_size=1, max_size=12, unique=True))
@settings(max_examples=200, deadline=None)
def test_sentences_that_differ_are_no_loop(numbers):
    from tunesmith.prepare.steps.quality_text import loop_share

    text = "。".join(f"第{n}号房间的门是蓝色的" for n in numbers)
    assert loop_share(text) == 0.0


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_symbol_share_ascii_path_equals_the_regex(text):
    from tunesmith.prepare.steps.quality_text import _SPECIAL, symbol_share

    if text:
        assert symbol_share(text) == pytest.approx(len(_SPECIAL.findall(text)) / len(text))
    ascii_text = text.encode("ascii", "ignore").decode()
    if ascii_text:
        assert symbol_share(ascii_text) == pytest.approx(len(_SPECIAL.findall(ascii_text)) / len(ascii_text))
