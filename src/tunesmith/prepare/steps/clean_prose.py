"""The rules of `clean` that move characters in prose: whitespace and URL removal.

They run only on PROSE pieces (`clean_code.pieces`): code and grids never reach them. A piece may be a
whole text or a part of one line (text around an inline `code` span), so `tidy_whitespace` is told
whether the piece starts or ends the text and strips only there; the newlines around a code block
belong to the text and stay.

URL removal takes with a URL what only served it: a label before it ("网址为:", "Link:"), the brackets
or quotes around it ("Meetup (www.meetup.com)"), the markdown link around it, a line left holding
nothing, or the sentence that only points to it ("See URL for more.", "详见URL。"). A URL inside a
sentence that says more ("Download it from https://x.org and…") stays: removing it would break the
sentence (urls: replace keeps its place). When a URL is most of a text (an "Outline this article"
record whose input is the URL), `urls_are_the_text` tells the caller to keep it and flag the record.
"""

from __future__ import annotations

import re

_SPACE = "\t\u00a0\u2000-\u200a\u202f\u205f\u3000"
# Runs of spaces inside a line (indentation at the start of a line is kept: nested lists, poems).
# Runs next to an underscore blank are the blank's width ("一个   _   。"), and stay.
_SPACES = re.compile(r"(?<=\S)(?<!_)(?:[ " + _SPACE + r"]{2,}(?!_)|[\t\u00a0\u2000-\u200a\u202f\u205f])")
_SPACE_HINT = re.compile(r"[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")  # what _SPACES changes besides "  "
_LINE_END_SPACE = re.compile(r"[ \t\u00a0\u3000]+(?=\n)")
_BLANK_LINES = re.compile(r"\n{3,}")
_ONE_LEADING_SPACE = re.compile(r"(?<=\n) (?=\S)")


def tidy_whitespace(text: str, at_start: bool = True, at_end: bool = True) -> str:
    """Collapse space runs inside lines, strip line ends, at most one blank line; strip the text's ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if " \n" in text or "\t\n" in text or not text.isascii():
        text = _LINE_END_SPACE.sub("", text)
    # The space rules start with a look-behind / look-ahead, which the regex engine tries at every
    # position; these plain tests find exactly the texts they could change, and most texts are tidy.
    if "  " in text or (not text.isascii() or "\t" in text) and _SPACE_HINT.search(text):
        text = _SPACES.sub(" ", text)
    if not at_start and text[:2] == "  ":  # a run right after an inline code span, mid-line
        text = " " + text.lstrip(" ")
    if at_start and text[:1].isspace():
        blank = _BLANK_START.match(text)
        if blank:
            text = text[blank.end():]
    if "\n " in text or at_start and text[:1] == " ":
        text = _stray_leading_spaces(text, at_start)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    if at_start and text[:1].isspace():
        text = _strip_indent(text)
    if at_end:
        text = text.rstrip()
    return text


_BLANK_START = re.compile(r"(?:[ \t\u3000]*\n)+")
_INDENT = re.compile(r"[ \t\u3000]*")


def _strip_indent(text: str) -> str:
    """The first line's indent goes unless another line of its paragraph shares it (a poem or a block
    indented as a whole keeps its shape)."""
    indent = _INDENT.match(text).group()
    if indent:
        paragraph = text.split("\n\n", 1)[0].split("\n")[1:]
        if not any(line.strip() and line.startswith(indent) for line in paragraph):
            text = text[len(indent):]
    return text


def _stray_leading_spaces(text: str, at_start: bool) -> str:
    """Drop a one-space indent that is alone in its paragraph (" 水还有…"); several lines indented by one
    space are a layout (code, a column of numbers) and keep it."""
    out = []
    for i, paragraph in enumerate(text.split("\n\n")):
        # The first paragraph starts a line only at the text's start (else it follows inline code, mid-line).
        lined = "\n" + paragraph if i or at_start else paragraph
        if len(_ONE_LEADING_SPACE.findall(lined)) == 1:
            paragraph = _ONE_LEADING_SPACE.sub("", lined)[1 if i or at_start else 0:]
        out.append(paragraph)
    return "\n\n".join(out)


# ASCII-only URL bodies: a URL never continues into CJK text or full-width punctuation.
URL = re.compile(r"(?:(?<![A-Za-z0-9])(?:https?|ftp)://|(?<![A-Za-z0-9.@/])www\.)"
                 r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]"
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*(" + URL.pattern + r")\s*\)", re.IGNORECASE)
# A label that starts its line or sentence ("网址为:", "Link:"), or follows a URL that went; "the NIH's
# website: URL" is not one.
_LABEL_BODY = (r"[ \t]*(?:[-*•][ \t]*)?(?:网址|链接|网站|官网|主页|地址|出处|来源|URL|Link|Website|Site|Source|Homepage)"
               r"\s*(?:为|是)?\s*[:：]\s*")
_LABEL = re.compile(r"(?:^|(?<=[\n。！？.!?;；]))" + _LABEL_BODY + "$", re.IGNORECASE)
_LABEL_NEXT = re.compile(_LABEL_BODY, re.IGNORECASE)
# Brackets that make a URL an aside; quotes do not ('the URL "www.x.com" is' names it).
_PAIRS = {"(": ")", "（": "）", "[": "]", "【": "】"}
_GONE = "\x00"  # where a URL was, until the line it leaves is looked at
_EMPTY_LINE = re.compile(r"^[ \t]*(?:[-*•]|\d+[.)、])?[ \t]*[:：,，;；.。]?[ \t]*$")
# What may stand on a line beside a URL that is alone on it: a bullet or number before, punctuation after.
_LINE_HEAD = re.compile(r"[ \t]*(?:[-*•>]|\d+[.)、]|[(（]\d+[)）])?[ \t]*")
_LINE_TAIL = re.compile(r"[ \t]*[.。,，;；]?[ \t]*")


def url_end(url: str) -> int:
    """Length of `url` without the sentence punctuation or unbalanced bracket the regex took after it."""
    cut = len(url)
    while cut and url[cut - 1] in _URL_TRAILING:
        if url[cut - 1] == ")" and url[:cut].count("(") >= url[:cut].count(")"):
            break
        cut -= 1
    return cut


def replace_urls(text: str, placeholder: str) -> tuple[str, int]:
    count = 0

    def one(m: re.Match) -> str:
        nonlocal count
        count += 1
        cut = url_end(m.group())
        return placeholder + m.group()[cut:]
    return URL.sub(one, text), count


def remove_urls(text: str) -> tuple[str, int, int]:
    """`text` without the URLs that can go, how many went, and how many stayed because they are part of a
    sentence ("从<https://nodejs.org>下载", "See https://x.org for more": removing them breaks it).

    A URL can go with its label ("网址为: URL"), with the brackets around it ("Meetup (www.meetup.com)"),
    with its markdown link ("[官网](URL)" keeps "官网"), or with its line when it is alone on it.
    Where a URL went stays marked (`_GONE`) for `urls_are_the_text`; `unmark` takes the marks out."""
    removed = 0
    if "](" in text:
        text, removed = _MD_LINK.subn(lambda m: m.group(1) + m.group(2)[url_end(m.group(2)):], text)
    out, last, kept = [], 0, 0
    for m in URL.finditer(text):
        start, end = m.start(), m.start() + url_end(m.group())
        if end <= last:
            continue
        label = _LABEL.search(text, max(last, start - 24), start)
        if label is None and last and _LABEL_NEXT.fullmatch(text, last, start):
            label = _LABEL_NEXT.fullmatch(text, last, start)
        if label:
            start = label.start()
        elif start and end < len(text) and _PAIRS.get(text[start - 1]) == text[end]:
            start, end = start - 1, end + 1
        else:
            if start and end < len(text) and text[start - 1] == "<" and text[end] == ">":
                start, end = start - 1, end + 1  # an autolink is the URL itself, not a parenthesis
            head = text[text.rfind("\n", 0, start) + 1:start]
            tail = text[end:(text.find("\n", end) + 1 or len(text) + 1) - 1]
            if not (_LINE_HEAD.fullmatch(URL.sub("", head)) and _LINE_TAIL.fullmatch(URL.sub("", tail))):
                sentence = _pointer_sentence(text, max(last, 0), start, end)
                if sentence is None:
                    kept += 1
                    continue
                start, end = sentence
        if start > last and text[start - 1] == " " and (end == len(text) or not text[end].isalnum()):
            start -= 1  # "Meetup (x)：" -> "Meetup："
        out.append(text[last:start] + _GONE)
        last, removed = end, removed + 1
    if last == 0:
        return text, removed, kept
    out.append(text[last:])
    marked = "".join(out)
    if "\n" in marked:
        marked = "\n".join(line for line in marked.split("\n")
                           if _GONE not in line or not _EMPTY_LINE.match(line.replace(_GONE, "")))
    return marked, removed, kept


_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?=\s|$)")
# Words of a sentence that only points to its URL ("See URL for more.", "详见URL。", "更多信息请访问URL。").
_POINTER_WORDS = re.compile(
    r"(?<![a-z])(?:see|visit|check|out|refer|to|go|read|more|at|here|for|further|info|information|details?|please|"
    r"learn|find|on|the|this|our|its|their|official|website|site|page|link|docs|documentation|source|via|you|can|"
    r"also|may|want|a|an|full|list|complete)(?![a-z])|"
    r"详见|参见|请访问|访问|更多|信息|请参考|参考|了解|详情|请见|见|请|可以|您|你|在|查看|浏览|官网|官方网站|网站|链接|"
    r"以|获取|的|或|登录|前往|点击|此处|这里|网址|文档|此|相关|内容", re.IGNORECASE)


def _pointer_sentence(text: str, floor: int, start: int, end: int) -> tuple[int, int] | None:
    """The span of the sentence around text[start:end] if it only points to its URL, else None."""
    before = [m.end() for m in _SENTENCE_END.finditer(text, floor, start)]
    s = before[-1] if before else floor
    after = _SENTENCE_END.search(text, end)
    e = after.end() if after and after.group() != "\n" else (after.start() if after else len(text))
    words = _POINTER_WORDS.sub("", URL.sub("", text[s:e]))
    if any(c.isalnum() for c in words):
        return None
    while s < start and text[s] == " ":
        s += 1
    return s, e


def unmark(text: str) -> str:
    return text.replace(_GONE, "")


_WORD = re.compile(r"[\u3400-\u9fff]|[^\W_\u3400-\u9fff]+")  # a Chinese character, or a run of other letters/digits


def urls_are_the_text(after: str) -> bool:
    """Is a text without its URLs left with next to nothing (fewer than 5 words or Chinese characters)?"""
    return len(_WORD.findall(unmark(after), 0, 200)) < 5
