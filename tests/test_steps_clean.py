"""clean step: HTML through a real parser, URLs that never eat Chinese, unicode repair, width, whitespace."""

from __future__ import annotations

from tunesmith.data.example import Example
from tunesmith.data.steps.clean import CleanStep


def clean(text, **options):
    step = CleanStep(CleanStep.Options(step="clean", **options))
    return step.clean_text(text), step


def test_html_tags_entities_and_script_bodies():
    out, step = clean("<p>Hello <b>world</b> &amp; friends</p><script>var x = 'http://evil';</script>"
                      "<style>p{color:red}</style><p>第二段&nbsp;内容</p>")
    assert out == "Hello world & friends\n\n第二段 内容"
    assert step.stats.counts["html"] == 1


def test_text_that_only_mentions_angle_brackets_is_untouched():
    assert clean("if a < b and c > d then 3 < 4")[0] == "if a < b and c > d then 3 < 4"


def test_urls_glued_to_chinese_never_swallow_it():
    out, _ = clean("详见https://example.com/a?b=1。然后继续阅读第二段内容，www.test.cn也可以。", urls="remove")
    assert out == "详见。然后继续阅读第二段内容，也可以。"
    out, _ = clean("See (https://example.com/x_(y)) and http://a.b/c.", urls="replace")
    assert out == "See (<URL>) and <URL>."


def test_code_fences_are_left_alone():
    text = "Use this:\n```html\n<div>  http://x.y  </div>\n    indented\n```\nDone  now."
    out, _ = clean(text, urls="remove")
    assert "```html\n<div>  http://x.y  </div>\n    indented\n```" in out
    assert out.endswith("Done now.")


def test_mojibake_and_control_characters():
    out, step = clean("cafÃ© \u200bnaÃ¯ve")
    assert out == "café naïve"
    assert step.stats.counts["unicode"] == 1


def test_width_alnum_keeps_chinese_punctuation():
    out, _ = clean("ＧＰＴ－４　和ｃｈａｔ，好！")
    assert out == "GPT－4 和chat，好！"
    out, _ = clean("ＧＰＴ－４，好！", width="all")
    assert out == "GPT-4,好!"


def test_whitespace():
    assert clean("a   b\t\tc  \n\n\n\nd  \n")[0] == "a b c\n\nd"
    assert clean("- item\n  - nested item")[0] == "- item\n  - nested item"  # indentation kept


def test_lowercase_latin_only_and_t2s():
    assert clean("Hello ÉCOLE 你好", lowercase=True)[0] == "hello école 你好"
    assert clean("歡迎來到臺灣的學校，這裡很漂亮。", t2s=True)[0] == "欢迎来到台湾的学校，这里很漂亮。"


def test_fields_and_changed_count():
    step = CleanStep(CleanStep.Options(step="clean", fields=["output"]))
    ex = step(Example.single("<b>keep</b>", "<b>strip</b>", input="<i>ctx</i>"))
    assert ex.instruction == "<b>keep</b>" and ex.input == "<i>ctx</i>" and ex.output == "strip"
    assert step.stats.changed == 1
    step(Example.single("a", "b"))
    assert step.stats.changed == 1 and step.stats.seen == 2


def test_entities_that_decode_to_control_or_wide_characters_are_cleaned_too():
    from tunesmith.data.steps.clean import CleanStep

    step = CleanStep()
    assert step.clean_text("a&#1;b <b>x</b>") == "ab x"
    assert step.clean_text("型号 &#65313;&#65297; <i>新</i>") == "型号 A1 新"
