"""HTML removal for `clean`: markup that is noise goes, markup that is content stays.

Noise is a scraped page or prose wrapped in `<p>`/`<br>`/`<b>` with `&nbsp;` entities. Content is
markup an instruction asks for or talks about ("编写 HTML 代码", "use the <hr> tag"), markup in code,
XML, and everything in angle brackets that is not an HTML tag at all: `List<String>`,
`#include <stdio.h>`, `if a<b and c>d`, `<nooutput>`, `<URL>`, `<name>` placeholders.

So `strip_html` removes only tokens that are certainly HTML tags: a known element name with a
well-formed attribute list, and of those only closing tags, void tags, tags whose paragraph-like
element needs no closing tag, and opening tags closed later. Formatting tags are simply taken out; a
page with script/style/head goes through the real parser (selectolax), which drops those bodies, with
every other `<` escaped first so that it comes back as it was. Whether to strip at all is decided
by the caller from the record's instruction (`asks_for_markup`) and the text itself (`mentions_markup`,
`has_html`).
"""

from __future__ import annotations

import html
import re

_ELEMENTS = frozenset((
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas caption center "
    "cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption "
    "figure font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label "
    "legend li link main map mark meta meter nav noscript object ol optgroup option output p param picture "
    "pre progress q rp rt ruby s samp script section select small source span strike strong style sub "
    "summary sup table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr"
).split())
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Elements whose end tag may be left out: a lone <p> or <li> is still a tag.
_OPTIONAL_END = frozenset("p li dt dd tr td th option thead tbody tfoot".split())
_BLOCK = frozenset((
    "address article aside blockquote body br dd div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr html li main nav ol p pre section table tbody td tfoot th thead tr ul").split())
_DROP = "script,style,noscript,template,head"

_ATTRS = r"(?:\s+[A-Za-z_:@][-\w:.@]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`]+))?)*"
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(" + _ATTRS + r")\s*/?>|<!--.*?-->|<!DOCTYPE[^<>]*>", re.S | re.I)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
HINT = re.compile(r"<[A-Za-z!/]|&(?:#\d+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});")

# An instruction about code, or one that asks to make markup ("编写 HTML 代码", "reformat into an HTML table",
# "Generate a web page"): the angle brackets of its record are content. "What is HTML?" asks neither.
_CODE_WORDS = re.compile(
    r"(?<![a-z])(?:code[sd]?|coding|scripts?|snippets?|functions?|programs?|programming|regex|regexp|sql|json|"
    r"python|java|javascript|typescript|php|c\+\+|c#|react|vue|angular|jsx|dom)(?![a-z])|"
    r"代码|程序|编程|脚本|函数|正则", re.IGNORECASE)
_MARKUP_NOUNS = re.compile(
    r"html|xml|svg|css|markup|markdown|(?<![a-z])(?:tags?|elements?|attributes?|entit\w*|web ?pages?|websites?|"
    r"homepage|landing page|pages?|forms?|tables?|buttons?|templates?|layout|newsletter|email)(?![a-z])|"
    r"标签|标记|元素|属性|实体|网页|网站|页面|表单|按钮|表格|模板|布局", re.IGNORECASE)
_MAKE_VERBS = re.compile(
    r"(?<![a-z])(?:write|create|generate|make|build|design|construct|convert|reformat|format|transform|render|"
    r"produce|give|show|add|insert|turn|translate|parse|edit|fix|modify|rewrite|output|return|provide|develop|"
    r"implement|style|embed|encode|escape|mark up|wrap)(?![a-z])|"
    r"编写|写|创建|生成|制作|设计|构建|转换|转为|转成|改写|修改|给出|输出|提供|添加|插入|实现|开发|解析|转义|格式化",
    re.IGNORECASE)
_TAGLIKE = r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]{0,80})?/?>"
# Tags that are mentioned, not used: "the <hr> tag", "<p> 标签", "<html> 和 </html>", "“<br>”".
_MENTION = re.compile(
    _TAGLIKE + r"\s*(?:tags?|elements?|attributes?|标签|元素|属性|标记)|"
    r"(?:tags?|elements?|标签|元素)\s*[:：]?\s*" + _TAGLIKE + "|"
    r"<([A-Za-z][A-Za-z0-9]*)[^<>\n]{0,80}>\s{0,2}(?:和|与|及|或|到|至|and|or|to|,|，|、)?\s{0,2}</\1\s*>|"
    r"[“\"'「‘`]" + _TAGLIKE + r"[”\"'」’`]", re.IGNORECASE)


def asks_for_markup(instruction: str) -> bool:
    """Is the record about code, or does its instruction ask to make markup (then its markup is content)?"""
    return _CODE_WORDS.search(instruction) is not None or (
        _MARKUP_NOUNS.search(instruction) is not None and _MAKE_VERBS.search(instruction) is not None)


def mentions_markup(text: str) -> bool:
    """Does the text name tags as examples ("use the <hr> tag", "比如 <html> 和 </html>") rather than
    format itself with them?"""
    return _MENTION.search(text) is not None


def has_html(text: str) -> bool:
    """Is there markup that can only be HTML: a closing tag, <br>/<hr>, a void tag with attributes, or an
    entity? XML (paired tags of names HTML does not have) is content and answers False."""
    closing = opened_unknown = False
    unknown: set[str] = set()
    for m in _TAG.finditer(text):
        if m.group(2) is None:  # a comment or doctype
            closing = True
            continue
        name = m.group(2).lower()
        if name not in _ELEMENTS:
            if m.group(1):
                opened_unknown = opened_unknown or name in unknown
            else:
                unknown.add(name)
            continue
        if m.group(1) or name in ("br", "hr") or (name in _VOID and "=" in m.group(3)):
            closing = True
    if opened_unknown:
        return False
    return closing or _ENTITY.search(text) is not None


def strip_html(text: str) -> str:
    """Visible text of HTML in `text`: tags removed (block tags become line breaks), script/style bodies
    dropped, entities decoded; every `<` that is not certainly a tag stays as written."""
    if "<" not in text:
        return _decode(text)
    found = list(_TAG.finditer(text))
    last_close = {}
    for m in found:
        if m.group(1):
            last_close[m.group(2).lower()] = m.start()
    tags = [m for m in found if _is_tag(m, last_close)]
    if any((m.group(2) or "").lower() in _DROP_SET for m in tags):
        visible = _parsed(text, tags)
    else:  # formatting tags only: taking them out is all a parser would do, at a tenth of its cost
        out, last = [], 0
        for m in tags:
            out.append(_decode(text[last:m.start()]))
            out.append("\n" if (m.group(2) or "").lower() in _BLOCK else "")
            last = m.end()
        out.append(_decode(text[last:]))
        visible = "".join(out)
    # Indentation in the page source is not the text's: every line starts at its first character.
    return _SOURCE_INDENT.sub("", visible)


_DROP_SET = frozenset(_DROP.split(","))
_SOURCE_INDENT = re.compile(r"(?m)^[ \t]+")
_BARE_AMP = re.compile(r"&(?!(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)")


def _is_tag(m: re.Match, last_close: dict[str, int]) -> bool:
    """Is this match certainly an HTML tag (a comment, doctype, closing, void or paragraph-like tag, or an
    opening tag closed later: `last_close` has where each name's last closing tag starts), not
    "a<b and c>d" or `<String>`?"""
    name = (m.group(2) or "").lower()
    if not name:
        return True
    if name not in _ELEMENTS:
        return False
    if m.group(1) or name in _VOID or name in _OPTIONAL_END:
        return True
    return last_close.get(name, -1) > m.start()


def _decode(text: str) -> str:
    return _ENTITY.sub(lambda m: html.unescape(m.group()), text) if "&" in text else text


def _parsed(text: str, tags: list[re.Match]) -> str:
    """A page with script/style/head: the real parser (selectolax) drops those bodies. Text between the
    tags is escaped first, so that the parser gives every other `<` back as written."""
    from selectolax.lexbor import LexborHTMLParser

    out, last = [], 0
    for m in tags:
        out.append(_escape(text[last:m.start()]))
        out.append(("\n" if (m.group(2) or "").lower() in _BLOCK else "") + m.group())
        last = m.end()
    out.append(_escape(text[last:]))
    tree = LexborHTMLParser("".join(out))
    for node in tree.css(_DROP):
        node.decompose()
    root = tree.body
    return root.text(deep=True, separator="", strip=False) if root is not None else text


def _escape(text: str) -> str:
    """Text between tags, made so that the parser gives it back unchanged (entities still decode)."""
    return _BARE_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
