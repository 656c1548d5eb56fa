"""The rules of `clean` that move characters in prose: whitespace and URL removal.

They run only on PROSE pieces (`clean_code.pieces`): code and grids never reach them. A piece may be a
whole text or a part of one line (text around an inline `code` span), so `tidy_whitespace` is told
whether the piece starts or ends the text and strips only there; the newlines around a code block
belong to the text and stay.

URL removal takes with a URL what only served it: a label before it ("网址为:", "Link:"), the brackets
or quotes around it ("Meetup (www.meetup.com)"), the markdown link around it, a line left holding
nothing. When a URL is most of a text (an "Outline this article" record whose input is the URL),
removing it would empty the record: `urls_are_the_text` tells the caller to keep it and flag it.
"""

from __future__ import annotations

import re

_SPACE = "\t\u00a0\u2000-\u200a\u202f\u205f\u3000"
# Runs of spaces inside a line (indentation at the start of a line is kept: nested lists, poems).
_SPACES = re.compile(r"(?<=\S)(?:[ " + _SPACE + r"]{2,}|[\t\u00a0\u2000-\u200a\u202f\u205f])")
_SPACE_HINT = re.compile(r"[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")  # what _SPACES changes besides "  "
_LINE_END_SPACE = re.compile(r"[ \t\u00a0\u3000]+(?=\n)")
_BLANK_LINES = re.compile(r"\n{3,}")
_ONE_LEADING_SPACE = re.compile(r"(?<=\n) (?=\S)")  # a stray space; real indentation is wider


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
    if "\n " in text:
        text = _ONE_LEADING_SPACE.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    if at_start:
        text = text.lstrip()
    if at_end:
        text = text.rstrip()
    return text


# ASCII-only URL bodies: a URL never continues into CJK text or full-width punctuation.
URL = re.compile(r"(?:(?<![A-Za-z0-9])(?:https?|ftp)://|(?<![A-Za-z0-9.@/])www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+",
                 re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]"
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*(" + URL.pattern + r")\s*\)", re.IGNORECASE)
_LABEL = re.compile(r"(?:网址|链接|网站|官网|主页|地址|出处|来源|URL|Link|Website|Site|Source|Homepage)\s*(?:为|是)?\s*[:：]\s*$",
                    re.IGNORECASE)
_PAIRS = {"(": ")", "（": "）", "[": "]", "【": "】", "<": ">", "「": "」", "“": "”", '"': '"', "'": "'"}
_GONE = "\x00"  # where a URL was, until the line it leaves is looked at
_EMPTY_LINE = re.compile(r"^[ \t]*(?:[-*•]|\d+[.)、])?[ \t]*[:：,，;；.。]?[ \t]*$")


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


def remove_urls(text: str) -> tuple[str, int]:
    """`text` without its URLs (and what only served them), and how many. Where a URL was stays marked
    (`_GONE`) for `urls_are_the_text`; `unmark` takes the marks out."""
    if "](" in text:
        text = _MD_LINK.sub(lambda m: m.group(1) + m.group(2)[url_end(m.group(2)):], text)
    out, last, count = [], 0, 0
    for m in URL.finditer(text):
        start, end = m.start(), m.start() + url_end(m.group())
        if end <= last:
            continue
        label = _LABEL.search(text, max(last, start - 24), start)
        if label:
            start = label.start()
        elif start and end < len(text) and _PAIRS.get(text[start - 1]) == text[end]:
            start, end = start - 1, end + 1
        if start > last and text[start - 1] == " " and (end == len(text) or not text[end].isalnum()):
            start -= 1  # "Meetup (x)：" -> "Meetup：", "site x is" -> "site is"
        out.append(text[last:start] + _GONE)
        last, count = end, count + 1
    if not count:
        return text, 0
    out.append(text[last:])
    marked = "".join(out)
    if "\n" in marked:
        lines = [line for line in marked.split("\n") if _GONE not in line or not _EMPTY_LINE.match(line.replace(_GONE, ""))]
        marked = "\n".join(lines)
    return marked, count


def unmark(text: str) -> str:
    return text.replace(_GONE, "")


_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]")
_DANGLING = re.compile(r"[:：]\s*$")


def urls_are_the_text(after: str) -> bool:
    """Is a text without its URLs left with next to nothing (fewer than 5 words or Chinese characters), or
    with a line that now ends at a colon ("Describe this image:"): then the URL was the point."""
    if _GONE in after:
        if any(_DANGLING.search(line.replace(_GONE, "")) for line in after.split("\n") if _GONE in line):
            return True
        after = after.replace(_GONE, "")
    return len(_WORD.findall(after, 0, 200)) < 5
