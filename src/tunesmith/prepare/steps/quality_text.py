"""What the `quality` rules measure in a text, and what a task asks for (read from its request).

Each measure has a cheap path for the common case (no repeated sentence, ASCII text, an answer that
starts unlike its question), because the rules run on every record.
"""

from __future__ import annotations

import re

from tunesmith.prepare.steps.language_text import strip_code

# --- what a request asks for (searched in the instruction and its input) ------------------------------

# An answer made of repetition is the answer.
ASKS_REPETITION = re.compile(r"(?i)\brepeat|\b(?:\d+|ten|five|three)\s+times\b|over and over|重复|遍|复读|叠词|叠字")
# Answers made of symbols: patterns, secrets, pictures, code and markup, formulas, encodings, punctuation.
ASKS_SYMBOLS = re.compile(
    r"(?i)regex|regular expression|正则|password|passcode|passphrase|密码|口令|emoji|emoticon|表情|颜文字|"
    r"morse|摩尔斯|摩斯|ascii|\bart\b|字符画|符号画|symbol|符号|punctuat|标点|operator|运算符|\bsigns?\b|"
    r"code|代码|程序|脚本|script|html|xml|svg|json|css|sql|yaml|markdown|latex|tag|标签|formula|公式|equation|方程|"
    r"math|数学|表达式|expression|encod|编码|encrypt|加密|cipher|密文|hash|binary|二进制|hex|十六进制|unicode|"
    r"character|字符|pattern|图案|draw|画|shape|形状|table|表格|compar|比较|大于|小于|greater|less than")
# Edits of the input: the answer is the input, changed only where the task says.
ASKS_EDIT = re.compile(
    r"(?i)proofread|correct|\bfix|edit|rewrit|rephras|revis|paraphras|punctuat|capitali|spell|grammar|grammatic|"
    r"format|paragraph|order|arrang|organi[sz]|\bsort|divid|split|combin|merg|convert|transform|chang|replac|"
    r"insert|\badd\b|remov|delet|normali|clean|standardi|lower ?case|upper ?case|tense|\bvoice\b|simplif|"
    r"shorten|tidy|改正|修改|纠正|校对|更正|改写|重写|润色|标点|语法|拼写|错别字|大小写|格式|分段|段落|排序|排列|"
    r"整理|转换|替换|添加|加上|删除|改成|改为|变成|编辑|修正|调整|顺序")

# --- units -------------------------------------------------------------------------------------------

# Units: one Han/kana/Hangul character, or one run of Latin letters/digits.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_UNITS = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
# The same units found run by run: a run of CJK characters is split into characters with list.extend,
# which is several times cheaper than one regex match per character.
_UNIT_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_ASCII_UNITS = re.compile(r"[a-z0-9]+")  # the same units for lower-cased ASCII text, several times faster


def _is_cjk(c: str) -> bool:
    return ("\u4e00" <= c <= "\u9fff" or "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u4dbf"
            or "\uac00" <= c <= "\ud7af")


def text_units(text: str) -> list[str]:
    """The lower-cased units of `text`, in order: each CJK character, each run of other letters/digits."""
    low = text.lower()
    if low.isascii():
        return _ASCII_UNITS.findall(low)
    units: list[str] = []
    for run in _UNIT_RUNS.findall(low):
        if _is_cjk(run[0]):
            units.extend(run)
        else:
            units.append(run)
    return units


def too_few_units(text: str, least: int) -> bool:
    """Fewer than `least` units in the first 4 * least + 64 characters."""
    if least == 1:
        return _UNITS.search(text, 0, 68) is None
    return len(_UNITS.findall(text, 0, 4 * least + 64)) < least


# --- echo --------------------------------------------------------------------------------------------

NORMALISE = re.compile(r"[\W_]+")


def could_echo(output: str, other: str) -> bool:
    """A cheap necessary condition for `output` and `other` to normalise to the same text.

    Normalising deletes characters and lower-cases character by character, so the normal form of a
    text's first k characters is a prefix of the text's normal form: two texts whose starts normalise
    to different prefixes cannot be equal. Almost every answer differs from its question within 32
    characters, so the whole answer is normalised only for the rare one that starts like it."""
    x, y = output[:1], other[:1]
    if x.isalnum() and y.isalnum() and x.lower()[0] != y.lower()[0]:  # both start with a kept character
        return False
    a = NORMALISE.sub("", output[:32]).lower()
    b = NORMALISE.sub("", other[:32]).lower()
    m = min(len(a), len(b))
    return a[:m] == b[:m]


def same_words(said: str, other: str) -> bool:
    """`said` (normalised, lower-cased) equals `other` normalised the same way. Normalising only removes
    characters and lower-casing at most doubles one, so a text under half as long cannot match: that
    skips the regex for the usual short question under a long answer."""
    return 2 * len(other) >= len(said) and said == NORMALISE.sub("", other).lower()


# --- loops -------------------------------------------------------------------------------------------

# A piece of 1-40 characters said four times or more back to back (哈哈哈哈, "I don't know I don't know ...").
_CYCLE = re.compile(r"(.{1,40}?)\1{3,}", re.DOTALL)


def segments(text: str) -> list[str]:
    """The sentences and lines of `text`, stripped: a loop repeats them whole. ". " ends an English
    sentence ("3.5" does not). A chain of str.replace is several times cheaper than a regex split."""
    for end in ("。", "！", "？", "!", "?", "；", ";", ". "):
        if end in text:
            text = text.replace(end, "\n")
    return [s for s in map(str.strip, text.split("\n")) if s]


def loop_share(text: str) -> float:
    """Share of the characters of `text` (in its sentences and lines) that sit in a loop: a later copy of
    a sentence or line of four characters or more, or a piece with a letter in it repeated back to back
    four times or more. Lines without a letter (table borders, ASCII art), table rows, and code are not
    read."""
    segs = segments(text)
    if not segs:
        return 0.0
    looped = 0
    if len(set(segs)) != len(segs):
        if "|" in text or "`" in text or any(h in text for h in ("=", "{", "}", "def ", "return")):
            segs = [s for s in segments(strip_code(text)) if s[0] != "|"]
        seen: set[str] = set()
        for s in segs:
            if s in seen and len(s) >= 4 and _has_letter(s):
                looped += len(s)
            seen.add(s)
    for s in segs:
        if len(s) >= 24 and _few_parts(s):  # made of few words or characters: maybe a cycle
            looped += sum(len(m.group(0)) for m in _CYCLE.finditer(s) if _has_letter(m.group(1)))
    return looped / sum(map(len, segs)) if looped else 0.0


def _few_parts(s: str) -> bool:
    """A cheap necessary sign of a cycle: few distinct words (English) or characters (CJK, or one long token)."""
    if s.isascii():
        words = s.split()
        if len(words) > 2:
            return len(words) >= 8 and 3 * len(set(words)) <= len(words)
        return 8 * len(set(s)) <= len(s)
    return 4 * len(set(s)) <= len(s)


def _has_letter(s: str) -> bool:
    return any(c.isalpha() for c in s)


# --- symbols -----------------------------------------------------------------------------------------

# Letters, digits, spaces, and the punctuation prose uses in either language are not "special"; nor are the
# vowel signs and diacritics that Indic, Thai, Arabic and Hebrew letters carry (combining marks, not \w).
_MARKS = r"\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f" \
         r"\u1ab0-\u1aff\u20d0-\u20ff\ufe20-\ufe2f"
_SPECIAL = re.compile(rf"[^\w\s.,;:!?'\"()\-\u3000-\u303f\uff01-\uff0f\uff1a-\uff1f\u2018-\u201d\u2026\u00b7{_MARKS}]")
# The same rule for ASCII text as bytes to delete: what is left after deleting them is special.
_PLAIN_ASCII = bytes(c for c in range(128) if re.match(r"[\w\s.,;:!?'\"()\-]", chr(c)))
_TABLE_ROW = re.compile(r"(?m)^[ \t]*\|.*$")


def symbol_share(text: str) -> float:
    """Share of the characters of `text` outside letters, digits, spaces and common punctuation."""
    if not text:
        return 0.0
    if text.isascii():  # bytes.translate deletes the plain characters in C; what is left is special
        return len(text.encode().translate(None, _PLAIN_ASCII)) / len(text)
    return len(_SPECIAL.findall(text)) / len(text)


def special_ratio(text: str, limit: float = 0.0) -> float:
    """`symbol_share` of the prose of `text`: code (fenced, inline or bare), URLs and table rows left out.
    A text whose whole share is within `limit` is not searched for code (the answer is the same)."""
    share = symbol_share(text)
    if share > limit and ("`" in text or "|" in text or "://" in text or "@" in text or "=" in text or "{" in text
                          or ";" in text or "<" in text or "#" in text):
        prose = strip_code(_TABLE_ROW.sub("", text) if "|" in text else text)
        share = symbol_share(prose.strip())
    return share
