"""What in a text tells the language it is written in (the `language` step's reading rules).

Instruction data is full of text that belongs to no language: code (fenced, inline, or a bare code
answer, JSON function calls and tool results), URLs and e-mail addresses. And Chinese, Japanese or
Korean prose is full of Latin-script *material* that it talks about rather than is written in: brand
and product names ("Google Chrome，Mozilla Firefox和Microsoft Edge"), book and song titles, romanised
names ("宇多田光 (Utada Hikaru)", pinyin), glosses ("冰雪(snow)"), passwords and quoted English
("计算句子"I want to go for a walk"中的单词数").

So, as a careful reader does:
  - `strip_code` removes code, URLs and e-mail addresses from any text;
  - inside text that has CJK characters, `cjk_prose_words` counts only Latin *prose*: runs of three
    or more words, most of them lower-case (a name or a title is capitalised; a sentence is not),
    not romanised (pinyin / Hepburn tone marks), and not inside quotation marks.
Text without CJK characters is Latin-script text: every word there counts, as before.
"""

from __future__ import annotations

import re

# Fenced code, URLs and e-mail addresses. Every alternative starts with a literal or an ASCII class:
# `\S+@` would rescan the rest of an unspaced Chinese line from every position.
_NOISE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`|(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
                    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]+", re.DOTALL)
# A whole line of code (ASCII classes only, so a Chinese line with "面积=长×宽" is never one): a statement
# keyword, an `if`/`for` header, an assignment, a call or signature, a one-line JSON object or array, a
# JSON key, a markup tag, a comment, or a line that ends a statement or a block. A trailing comment is
# part of its line. Lines of prose start with a capital or a CJK character and end in prose punctuation.
_END = r"[ \t]*(?:(?:\#|//)[^\n]*)?$"
_CODE_LINE = re.compile(rf"""(?amx)^[ \t]*(?:
      (?:def|class|import|from[ \t]+[\w.]+[ \t]+import|return|elif|else|except|finally|try|while|raise|yield
         |var|let|const|function|public|private|protected|static|void|package|using|namespace|func|fn|val
         |end|print|println|console\.log|System\.out|\#include|\#define|\#import
         |SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER)\b
    | (?:if|for|switch|catch|foreach)\b[^\n]*[:{{)]{_END}
    | [\w.$\[\]'"]+[ \t]*(?:[-+*/%|&^]?=|:=)(?!=)
    | [\w.$]+\([^\n]*\)[ \t]*[;{{:]?{_END}
    | [\[{{][^\n]*[\]}}][ \t]*,?{_END}
    | "[^"\n]*"[ \t]*:
    | </?[A-Za-z!][^\n]*>[ \t]*$
    | (?:\#+|//|/\*)(?:[ \t]|$) | \*/
    | [^\n]*[;{{}}]{_END}
)[^\n]*""")
# Strings without which no line above is likely: most prose has none, and skips the line scan (substring
# tests are several times cheaper than a regex search).
_CODE_HINTS = ("=", ";", "{", "}", "<", "#", "//", "def ", "return", "import ", "print", "SELECT")

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Quoted non-CJK text inside CJK prose ("…", “…”, 「…」, 『…』): material the prose talks about.
_QUOTED = re.compile(rf"\"[^\"\n{_HAN}]{{1,200}}\"|“[^”\n{_HAN}]{{1,200}}”|「[^」\n{_HAN}]{{1,200}}」"
                     rf"|『[^』\n{_HAN}]{{1,200}}』")
# A run of Latin-script words: joined by spaces, commas, hyphens, apostrophes; anything else ends it.
# (One simple class per run is several times cheaper than matching word by word.)
_LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'’ \t,\-]*")
# Tone marks of pinyin (macron, acute-and-caron ǎ ě ǐ ǒ ǔ ǚ, ü with marks): romanised Chinese, and
# Hepburn's macrons (Tōkyō): romanised names, not prose.
_ROMANISED = re.compile(r"[āēīōūǎěǐǒǔǚǖǘǜ]")


def strip_code(text: str) -> str:
    """`text` without code, URLs and e-mail addresses (each replaced by a line break or a space)."""
    if "`" in text or "://" in text or "www." in text or "@" in text:
        text = _NOISE.sub(" ", text)
    for hint in _CODE_HINTS:
        if hint in text:
            return _CODE_LINE.sub("", text)
    return text
    return text


def cjk_prose_words(text: str) -> list[str]:
    """The Latin-script words of CJK `text` that are prose written in another language (see module doc)."""
    if '"' in text or "“" in text or "「" in text or "『" in text:
        text = _QUOTED.sub("。", text)
    words: list[str] = []
    for run in _LATIN_RUN.findall(text):
        parts = run.replace(",", " ").replace("-", " ").split() if " " in run else (run,)
        if len(parts) < 3:
            continue  # a name, a term, a gloss, a password
        lower = sum(1 for w in parts if w[0].islower())
        if 2 * lower < len(parts) or _ROMANISED.search(run):
            continue  # a title or a name in Title Case, an acronym list, pinyin
        words.extend(parts)
    return words
