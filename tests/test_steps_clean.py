"""clean step: HTML through a real parser, URLs that never eat Chinese, unicode repair, width, whitespace.

And its contract: code, markup that is content, tables and drawings come out byte-identical; no rule
empties a text; a record whose point is a URL keeps it and is flagged. Each failure kind found on real
instruction data has a test here with records written for it, both what must stay and what must still go.
"""

from __future__ import annotations

import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps.clean import CleanStep
from tunesmith.prepare.steps.clean_code import CODE, GRID, PROSE, pieces


def clean(text, **options):
    step = CleanStep(CleanStep.Options(step="clean", **options))
    return step.clean_text(text), step


def run(instruction, output, input=None, **options):
    """The step on a whole record (the instruction decides what is content)."""
    step = CleanStep(CleanStep.Options(step="clean", **options))
    ex = step(Example.single(instruction, output, input=input))
    return ex, step


def test_html_tags_entities_and_script_bodies():
    out, step = clean("<p>Hello <b>world</b> &amp; friends</p><script>var x = 'http://evil';</script>"
                      "<style>p{color:red}</style><p>第二段&nbsp;内容</p>")
    assert out == "Hello world & friends\n\n第二段 内容"
    assert step.stats.counts["html"] == 1


def test_text_that_only_mentions_angle_brackets_is_untouched():
    assert clean("if a < b and c > d then 3 < 4")[0] == "if a < b and c > d then 3 < 4"


def test_urls_glued_to_chinese_never_swallow_it():
    out, _ = clean("详见https://example.com/a?b=1。然后继续阅读第二段内容，www.test.cn也可以。", urls="replace")
    assert out == "详见<URL>。然后继续阅读第二段内容，<URL>也可以。"
    out, _ = clean("See (https://example.com/x_(y)) and http://a.b/c.", urls="replace")
    assert out == "See (<URL>) and <URL>."
    out, _ = clean("第一段（https://example.com/a?b=1）。第二段。", urls="remove")
    assert out == "第一段。第二段。"


def test_a_sentence_that_only_points_to_a_url_goes_with_it():
    out, _ = clean("HTML is the language of the web. See https://developer.mozilla.org/docs/HTML for more.\n"
                   "Next line.", urls="remove")
    assert out == "HTML is the language of the web.\nNext line."
    out, _ = clean("水是生命之源。详见https://example.com/a?b=1。更多信息请访问 www.water.cn 。其余略。", urls="remove")
    assert out == "水是生命之源。其余略。"


def test_a_url_inside_a_sentence_stays_and_the_record_is_flagged():
    for text in ("从<https://nodejs.org>下载并安装最新版本。", "Download it from https://nodejs.org and install it.",
                 "The file at https://x.org/data.csv has three columns.", 'The page "www.example.com" loads fast.',
                 "Use a calculator, such as the one on the NIH website: https://www.nih.gov/bmi.htm Then eat less."):
        ex, step = run("介绍一下 Node.js 的安装。", text, urls="remove")
        assert ex.output == text
        assert [f["reason"] for f in ex.meta["flags"]] == ["url_in_sentence"]


def test_code_fences_are_left_alone():
    text = "Use this:\n```html\n<div>  http://x.y  </div>\n    indented\n```\nDone  now."
    out, _ = clean(text, urls="remove")
    assert "```html\n<div>  http://x.y  </div>\n    indented\n```" in out
    assert out.endswith("Done now.")


# -- code is content ---------------------------------------------------------------------------------
FENCED = ("下面是一个打印图案的程序，您可以修改它。  \n\n```python\nsize = 5\nfor i in range(size):\n"
          "    print('*' * i)  # 一行\n```\n\n输出：\n```\n*\n**\n```\n\n以上。 ")


def test_the_newlines_around_a_fence_stay_and_the_block_closes():
    out, _ = clean(FENCED)
    assert out == FENCED.replace("。  \n", "。\n").rstrip()  # only the prose's trailing spaces went
    assert "修改它。\n\n```python\n" in out and "\n```\n\n输出：\n```\n" in out


def test_a_tilde_fence_at_a_line_start_is_code():
    text = "代码：\n~~~\nx  =  1   \n~~~\n之后。"
    assert clean(text)[0] == text


def test_an_unclosed_fence_protects_to_the_end():
    text = "Code:\n```js\nlet  a = 1;\n\n\n\nlet  b = 2;   "
    assert clean(text)[0] == text


def test_inline_code_is_byte_identical():
    text = "例如`www.site.com/JohnSmith`，用 `<hr>` 标签，`ＡＢ  ｃ` 和 `cafÃ©` 都是代码。"
    out, _ = clean(text, urls="remove", lowercase=True)
    for span in ("`www.site.com/JohnSmith`", "`<hr>`", "`ＡＢ  ｃ`", "`cafÃ©`"):
        assert span in out
    # ... while the prose around them is still cleaned
    assert clean("See `x`  and  ＡＢ", width="alnum")[0] == "See `x` and AB"


@pytest.mark.parametrize("instruction, code", [
    # Python without a fence: the two spaces before '#' and the indentation are PEP 8, not noise
    ("Continue.", "def total(xs):\n    if not isinstance(xs, list):  # check the type\n        raise TypeError('x')\n"
                  "    return sum(xs)"),
    ("Continue.", "    for i in range(3):\n        print(i)  # an answer whose first line is indented code\n"),
    ("查询衬衫类产品。", "SELECT  name, price\nFROM products\nWHERE  category = '衬衫';"),
    ("Create a web page for a book review.",
     "<!DOCTYPE html>\n<html> \n<head>\n<title>Book  Review</title>\n</head>\n<body>\n  <p class=\"r\">Nice  book.</p>"
     "\n<script>show()</script>\n</body>\n</html>"),
    ("Continue.", "function add(a, b) {\n return a + b;\n}\n\nconsole.log(add(4,  3));"),
    ("Continue.", ".header {\n  padding:  50px;\n  color: white;\n}"),
    ("Continue.", "$ pip install  requests\n$ python3 app.py --port  8080"),
    ("Continue.", "{\"People\": [\n    {\"Name\": \"John\", \"Age\": 20}, \n    {\"Name\": \"Jill\", \"Age\": 27}\n]}"),
])
def test_an_answer_that_is_code_comes_out_byte_identical(instruction, code):
    ex, step = run(instruction, code, urls="remove", t2s=True, lowercase=True, fields=["output"])
    assert ex.output == code
    assert step.stats.counts == {}


def test_a_scraped_page_in_a_record_that_asks_no_markup_is_stripped():
    page = ("<!DOCTYPE html>\n<html><head><title>t</title><style>p{color:red}</style></head>\n<body>\n"
            "  <p class=\"lead\">Cats sleep a lot.</p>\n  <script>track()</script>\n  <p>Dogs &amp; cats play.</p>\n"
            "</body></html>")
    ex, step = run("Summarize the article.", "Cats sleep; dogs play.", input=page)
    assert ex.input == "Cats sleep a lot.\n\nDogs & cats play."
    assert step.stats.counts["html"] == 1


def test_prose_next_to_unfenced_code_is_still_tidied():
    text = "Here is the code:  \n\ndef f(x):\n    return x  # same\n\nIt  returns x.  "
    assert clean(text)[0] == "Here is the code:\n\ndef f(x):\n    return x  # same\n\nIt returns x."


def test_leading_blank_lines_go_but_never_the_indent_of_a_first_code_line():
    assert clean("\n\n    x = 1\n    y = 2")[0] == "    x = 1\n    y = 2"
    assert clean("\n\n  Hello  world.  ")[0] == "Hello world."  # a prose first line is stripped
    assert clean("\n  床前明月光，\n  疑是地上霜。")[0] == "  床前明月光，\n  疑是地上霜。"  # ... unless indented as a block


def test_is_code_tells_an_answer_that_is_code_from_prose_with_code():
    from tunesmith.prepare.steps.clean_code import is_code

    assert is_code("def f(x):\n    return x\n\nprint(f(1))")
    assert is_code("```sql\nSELECT 1;\n```")
    assert not is_code("Call it like this:\n\n```\nf(1)\n```")
    assert not is_code("Python is a language.")


def test_pieces_join_back_to_the_text_and_say_what_is_code():
    text = "Intro `a`.\n\n```\nx\n```\n\nName   Age\nJohn   20\n\nEnd."
    parts = pieces(text)
    assert "".join(p for _, p in parts) == text
    kinds = [k for k, _ in parts]
    assert kinds[0] == PROSE and CODE in kinds and GRID in kinds and kinds[-1] == PROSE


# -- markup: noise goes, content stays ------------------------------------------------------------------
@pytest.mark.parametrize("instruction, output", [
    ("编写 HTML 代码，显示一个按钮。", "<button onclick=\"go()\">点我</button>\n<p>说明</p>"),
    ("Parse the JSON and reformat it into an HTML table.", "<table>\n  <tr><td>John</td></tr>\n</table>"),
    ("Generate a web page for a bakery.", "<h1>Bakery</h1>\n<p>Fresh bread &amp; cakes.</p>"),
    ("HTML的最基本元素是什么？", "是标签，常成对出现，比如 <html> 和 </html>。"),
    ("How do I draw a line?", "Use the <hr> tag, or a <br> for a line break."),  # the text talks about tags
])
def test_markup_the_instruction_asks_for_or_the_text_discusses_stays(instruction, output):
    ex, step = run(instruction, output)
    assert ex.output == output
    assert step.stats.counts["html"] == 0


@pytest.mark.parametrize("text", [
    "在 Java 中使用 List<String> 保存名字。",
    "#include <stdio.h>\nint main() { return 0; }",
    "if a<b and c>d then swap",
    "<nooutput>",
    "The sea is to fish as the sky is to <analogy>",
    "<Song>\nCue: The chorus",
    "输入：<root> <data> <item id=\"1\"> <name>Sample</name> </item> </data> </root>",  # XML
])
def test_brackets_that_are_not_html_noise_stay(text):
    ex, step = run("Answer the question.", text)
    assert ex.output == text


def test_noise_is_removed_around_brackets_that_are_not_tags():
    out, _ = clean("<p>比较：a<b and c>d，以及 List<String>。</p>下一行<br>第三行&nbsp;完")
    assert out == "比较：a<b and c>d，以及 List<String>。\n下一行\n第三行 完"


def test_markup_whose_removal_would_empty_the_text_is_kept_and_flagged():
    ex, step = run("Continue.", "<br><hr>")
    assert ex.output == "<br><hr>"
    assert step.stats.flagged["markup_is_content"] == 1
    assert ex.meta["flags"][0]["step"] == "clean"


# -- whitespace: layout is content ---------------------------------------------------------------------
@pytest.mark.parametrize("grid", [
    "P      |  Q  |  P→Q\nTrue  |  True  |  True\nFalse | False |  True",
    "商品描述         数量    单价\n苹果 iPhone 11     1    [价格]",
    "| Name        | Age |\n|-------------|-----|\n| Alice Jones | 30  |",
    "9:00-10:30   生物学基础\n11:00-12:30  微积分I",
    "+---+\n|   |\n| A |\n|   |\n+---+",
    "   *\n  ***\n *****\n*******",
    "姓名　　年龄\n张三　　２０",
])
def test_aligned_tables_and_ascii_art_are_byte_identical(grid):
    text = "如下：\n\n" + grid + "\n\n完。"
    out, step = clean(text, width="alnum")
    assert out == text
    assert step.stats.counts["whitespace"] == 0


def test_whitespace():
    assert clean("a   b\t\tc  \n\n\n\nd  \n")[0] == "a b c\n\nd"
    assert clean("- item\n  - nested item")[0] == "- item\n  - nested item"  # indentation kept
    assert clean("第一句。  第二句。 \n 第三句。")[0] == "第一句。 第二句。\n第三句。"


def test_runs_of_ideographic_spaces_collapse_like_any_space_run():
    assert clean("文字　　　文字", width="none")[0] == "文字 文字"
    assert clean("文字 　 文字", width="none")[0] == "文字 文字"
    assert clean("文字　文字", width="none")[0] == "文字　文字"  # one ideographic space is the width rule's


# -- URLs --------------------------------------------------------------------------------------------
def test_url_removal_leaves_no_empty_brackets_labels_or_lines():
    out, _ = clean("1. Meetup (www.meetup.com)：一个活动平台。\n2. 见 [官网](https://a.org/x) 了解。", urls="remove")
    assert out == "1. Meetup：一个活动平台。\n2. 见 官网 了解。"
    out, _ = clean("文章一，讨论医疗。\n网址为:https://hbr.org/2020/ai\n\n文章二。网址为: https://x.com/y", urls="remove")
    assert out == "文章一，讨论医疗。\n\n文章二。"
    out, _ = clean("Open the site in your browser (https://twitter.com/) or the app.\n\nLink: https://t.co/x",
                   urls="remove")
    assert out == "Open the site in your browser or the app."


@pytest.mark.parametrize("instruction, input, reason", [
    ("Outline the main points of this article", "https://time.com/5798772/behind-the-risk/", "url_is_content"),
    ("请总结这篇文章。", "输入：\nURL：https://news.example.cn/2020/01/a.html", "url_is_content"),
    ("Describe the painting.", "Painting: https://upload.example.org/degas.jpg", "url_in_sentence"),
])
def test_a_text_whose_point_is_its_url_keeps_it_and_the_record_is_flagged(instruction, input, reason):
    ex, step = run(instruction, "It says many things.", input=input, urls="remove")
    assert ex.input == input
    assert step.stats.flagged[reason] == 1
    assert [(f["step"], f["reason"]) for f in ex.meta["flags"]] == [("clean", reason)]


def test_an_instruction_about_a_url_keeps_every_url_of_its_record():
    ex, step = run("Given a website, classify its content.", "The website https://www.cnn.com/ is news.",
                   input="https://www.cnn.com/", urls="remove")
    assert ex.output == "The website https://www.cnn.com/ is news." and ex.input == "https://www.cnn.com/"
    assert step.stats.flagged["url_is_content"] == 1
    ex, step = run("Given a URL, output its domain.", "google.com", input="https://docs.google.com/d", urls="replace")
    assert ex.input == "https://docs.google.com/d" and step.stats.flagged["url_is_content"] == 1
    ex, step = run("Explain photosynthesis.", "Plants turn light into sugar (https://en.example.org/wiki/P).",
                   urls="remove")
    assert ex.output == "Plants turn light into sugar." and not ex.meta.get("flags")


def test_urls_in_code_and_tables_are_never_removed():
    text = "```python\nurl = \"https://api.example.com/v1\"\n```\n\n| site | url |\n| a | https://a.io |"
    ex, step = run("List the sites.", text, urls="remove")
    assert ex.output == text
    assert [f["reason"] for f in ex.meta["flags"]] == ["url_in_table"]


# -- traditional -> simplified ---------------------------------------------------------------------------
def test_lowercase_latin_only_and_t2s():
    assert clean("Hello ÉCOLE 你好", lowercase=True)[0] == "hello école 你好"
    assert clean("歡迎來到臺灣的學校，這裡很漂亮。", t2s=True)[0] == "欢迎来到台湾的学校，这里很漂亮。"


def test_t2s_leaves_japanese_and_original_script_names_alone():
    text = "日本的歌手：Kenshi Yonezu (米津玄師)、Sakanaction (サカナクション)。東京は美しい街です。這個很好。"
    out, _ = clean(text, t2s=True)
    assert out == "日本的歌手：Kenshi Yonezu (米津玄師)、Sakanaction (サカナクション)。東京は美しい街です。这个很好。"


def test_t2s_leaves_a_record_whose_task_is_traditional_characters_alone():
    ex, _ = run("把这句话翻译成繁体中文：我们学习汉语。", "我們學習漢語。", t2s=True)
    assert ex.output == "我們學習漢語。"
    ex, _ = run("把这句话改写得更正式。", "我們學習漢語。", t2s=True)
    assert ex.output == "我们学习汉语。"


def test_t2s_skips_only_texts_it_could_not_change():
    from tunesmith.prepare.steps.clean_script import Simplifier

    s = Simplifier()
    for simplified in ("今天我们讨论一下如何提高学习效率。", "机器学习模型需要大量的训练数据", "Hello"):
        assert not s.may_change(simplified) and s._cc.convert(simplified) == simplified
    for traditional in ("學習", "沈默是金", "反覆"):  # 沈/覆 change only inside a phrase
        assert s.may_change(traditional) and s.convert(traditional) != traditional


# -- the other rules never touch code -------------------------------------------------------------------
def test_mojibake_and_control_characters():
    out, step = clean("cafÃ© \u200bnaÃ¯ve")
    assert out == "café naïve"
    assert step.stats.counts["unicode"] == 1


def test_zero_width_joiners_are_spelling_and_emoji_not_noise():
    for text in ("举重 🏋️\u200d♀️ 和家庭 👨\u200d👩\u200d👧", "می\u200cخوام بگم"):
        assert clean(text)[0] == text
    assert clean("零宽\u200b空格\ufeff")[0] == "零宽空格"


def test_mojibake_width_case_and_script_rules_skip_code():
    text = "Fix it:\n```\nname = 'cafÃ©'  # ＡＢＣ 學習\n```\nand `ＧＰＴ` ok."
    out, _ = clean(text, lowercase=True, t2s=True, width="all")
    assert "```\nname = 'cafÃ©'  # ＡＢＣ 學習\n```" in out and "`ＧＰＴ`" in out


def test_width_alnum_keeps_chinese_punctuation():
    out, _ = clean("ＧＰＴ－４　和ｃｈａｔ，好！")
    assert out == "GPT－4 和chat，好！"
    out, _ = clean("ＧＰＴ－４，好？！版本（２．０）", width="all")  # Chinese punctuation stays, even with `all`
    assert out == "GPT-4，好？！版本（2.0）"
    assert clean("什么是API？Adam，Joe和“光合”（Photo）。", width="all")[0] == "什么是API？Adam，Joe和“光合”（Photo）。"
    assert clean("Ｖｅｒ：（２．０）！", width="all")[0] == "Ver:(2.0)!"  # no Chinese: every full-width form
    assert clean("表名为`orders`）：\n\n```sql\nSELECT 1\n```", width="all")[0] == "表名为`orders`）：\n\n```sql\nSELECT 1\n```"


def test_fields_and_changed_count():
    step = CleanStep(CleanStep.Options(step="clean", fields=["output"]))
    ex = step(Example.single("<b>keep</b>", "<b>strip</b>", input="<i>ctx</i>"))
    assert ex.instruction == "<b>keep</b>" and ex.input == "<i>ctx</i>" and ex.output == "strip"
    assert step.stats.changed == 1
    step(Example.single("a", "b"))
    assert step.stats.changed == 1 and step.stats.seen == 2


def test_entities_that_decode_to_control_or_wide_characters_are_cleaned_too():
    step = CleanStep()
    assert step.clean_text("a&#1;b <b>x</b>") == "ab x"
    assert step.clean_text("型号 &#65313;&#65297; <i>新</i>") == "型号 A1 新"


@pytest.mark.parametrize("layout", [
    # JSON and code indented by one space: several lines share the indent, so it is layout
    '[\n {\n "filter":"brand",\n "values":["A"]\n },{\n "filter":"price",\n "min":1\n }\n]',
    "switch (zoom, speed) {\n | (_, Fast) => fast\n | (true, Slow) => slow\n}",
    # a single row with wide gaps, and numbers in a column under one-space indents
    "   21,336  |     0     5,012",
    " 1 + 0 + 1 = 2\n 0 + 6 + 1 = 7",
    # fill-in-the-blank: the spaces around the blank are its width
    "A: 西蒙在教室里找到了一个   _   。",
    'Add two adjectives: "The _____ _____  cat purred."',
])
def test_one_space_indents_blanks_and_wide_rows_keep_their_layout(layout):
    text = "Look:\n\n" + layout + "\n\nEnd."
    assert clean(text)[0] == text


def test_a_stray_one_space_indent_alone_in_its_paragraph_still_goes():
    assert clean("第一段。\n\n 水很重要。\n\nSincerely,\n\n john")[0] == "第一段。\n\n水很重要。\n\nSincerely,\n\njohn"
    assert clean("Use `x` and  `y`  here.")[0] == "Use `x` and `y` here."  # the space after a code span stays


# -- properties over texts assembled from the pieces real answers are made of -----------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PROSE = st.sampled_from(["这是一段说明。 ", "Some  words here.", "Visit (https://a.io/x) now.", "  \u3000第二段\u3000\u3000内容",
                          "<p>旧网页</p>", "ＧＰＴ－４　模型", "Tom &amp; Jerry", "歡迎來到學校。", "trailing   \n", "", "\n",
                          " 水很重要。", "1.  item", "Link: https://t.co/z", "网址为:https://hbr.org/x", "Ｖｅｒ：（２．０）",
                          "See https://x.org/a for more.", "Name   Age\nJohn   20", "List<String>", "a\u200bb"])
_BLOCK_TEXTS = ["```python\ndef f(x):\n    return x  # two spaces\n```", "`inline  <hr>  code`",
                "```\n| a  |  b |\n```"]
_BLOCK = st.sampled_from(_BLOCK_TEXTS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PROSE, _BLOCK), min_size=1, max_size=8), st.sampled_from(["\n", "\n\n", " "]))
def test_code_survives_byte_identical_and_cleaning_is_idempotent(parts, sep):
    text = sep.join(parts)
    assert "".join(p for _, p in pieces(text)) == text
    options = dict(urls="remove", t2s=True, width="all")
    once, _ = clean(text, **options)
    assert clean(once, **options)[0] == once
    for part in parts:
        if part in _BLOCK_TEXTS and text.count("`") % 2 == 0:  # (an odd backtick changes what is code)
            assert part in once
