"""Find PII candidates in a text by their shape, and judge each with `pii_checks`.

Every pattern sits behind a cheap test (a stretch of digits, an '@', a context word), so text without
candidates costs a few string scans, and the number patterns run only on the digit stretches. Phone
numbers outside mainland China are parsed by `phonenumbers` (libphonenumber's metadata), and only where
a hint says so: "+<country> ...", a North American shape ("(415) 555-0132", "415-555-0132",
"415.555.0132"), or ten plain digits after a phone word. The library costs ~50 us a call, the hint a regex.

Full-width digits and letters ("１３８１２３４５６７８", "ｚｈａｎｇ＠ｑｑ．ｃｏｍ") are read as their ASCII twins on a copy
of the same length, so a record is judged the same with or without `clean` before `pii`, and spans
still point into the original text.

Overlapping candidates are resolved by priority (checksummed types first), then by position.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

from tunesmith.prepare.steps import pii_checks as chk
from tunesmith.prepare.steps.pii_checks import CODE, PII, TEXTBOOK

PII_TYPES = ("id_card", "bank_card", "passport", "medical_record", "qq", "wechat", "phone", "mobile", "landline",
             "email", "ipv4", "ipv6")
_PRIORITY = {t: i for i, t in enumerate(PII_TYPES)}


@dataclass(frozen=True)
class PiiMatch:
    start: int
    end: int
    type: str
    text: str
    verdict: str = PII  # pii_checks: PII (mask), TEXTBOOK or CODE (keep), UNSURE (keep and flag)


_NUM_L, _NUM_R = r"(?<![0-9])", r"(?![0-9])"
_GAP = r"[^\n0-9]{0,8}?"  # between a context word and its value: "号码是", " number: ", "："
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_LOCAL = r"[2-9][0-9]{6,7}"


def _digits(s: str) -> str:
    return s.replace(" ", "").replace("-", "")


def _id18(m: re.Match, text: str) -> str | None:
    d = _digits(m["v"])
    if not chk.id18_shape_ok(d):
        return None
    if not chk.id18_valid(d):
        return "invalid"
    return CODE if chk.number_is_code(text, m.start("v"), chk.ID_WORDS, m.end("v")) else PII


def _id15(m: re.Match, text: str) -> str | None:
    d = _digits(m["v"])
    if not chk.id15_valid(d):
        return None
    window = chk.before(text, m.start("v"))
    # An American Express number (34/37, Luhn) is a card, unless an ID word says otherwise.
    if d[:2] in ("34", "37") and chk.luhn_valid(d) and chk.ID_WORDS.nearest(window) > len(window):
        return None
    return CODE if chk.number_is_code(text, m.start("v"), chk.ID_WORDS, m.end("v")) else PII


def _card(m: re.Match, text: str) -> str | None:
    d = _digits(m["v"])
    if len(d) >= 14 and chk.card_verdict(d, True) is None:
        return None  # no issuer has this prefix and length (most digit strings end here, before any context)
    window = chk.before(text, m.start("v"))
    card_words = chk.CARD_WORDS.nearest(window)
    if text[m.end("v"):m.end("v") + 1] in ("X", "x") or chk.ID_WORDS.nearest(window) < card_words:
        return None  # an ID number whose check digit failed is not a card that passed Luhn by chance
    verdict = chk.card_verdict(d, card_words <= len(window))
    if verdict == PII and chk.number_is_code(text, m.start("v"), chk.CARD_WORDS, m.end("v")):
        return CODE
    return verdict


def _cn_phone(m: re.Match, text: str) -> str:
    return CODE if chk.number_is_code(text, m.start("v"), chk.PHONE_WORDS, m.end("v")) else PII


def _landline(m: re.Match, text: str) -> str | None:
    digits = "".join(c for c in m["v"] if c.isdigit())
    national = digits[2:] if m["v"][0] == "+" else digits[4:] if m["v"].startswith("0086") else digits
    if not chk.cn_area_code_ok(national.lstrip("0")):
        return None  # no such area code: "0604 30520761" is a Maestro card, "0581 24009966" a courier number
    return _cn_phone(m, text)


def _wechat(m: re.Match, text: str) -> str | None:
    # A word right after "WeChat" ("wechat application") is not an id unless it looks like one
    # (has a digit, _ or -) or a separator says a value follows ("微信：", "wechat id is").
    value, gap = m["v"], m["g"].lower()
    if any(c.isdigit() or c in "_-" for c in value) or any(s in gap for s in (":", "：", "是", "为", " is", "id")):
        return PII
    return None


def _email(m: re.Match, text: str) -> str:
    return chk.email_verdict(m["v"], text, m.start("v"))


def _ipv4(m: re.Match, text: str) -> str:
    return chk.ipv4_verdict(m["v"], text, m.start("v"))


def _ipv6(m: re.Match, text: str) -> str | None:
    value = m["v"]
    hexes = sum(c in "0123456789abcdefABCDEF" for c in value)
    if hexes < 2 and not _IPV6_WORDS.search(text):  # "::1" only where the text speaks of addresses; a[::2] is Python
        return None
    try:
        return chk.ipv6_verdict(value, text)
    except ValueError:
        return None


_IPV6_WORDS = re.compile(r"(?i)ipv6|localhost|loopback|address|地址|本机|ping")

# (type, pattern, judge). The value is group "v"; a judge returns a pii_checks verdict, "invalid" (checksum
# failed: counted) or None (not a candidate after all).
_Judge = Callable[[re.Match, str], "str | None"]
_PATTERNS: list[tuple[str, str, _Judge | None]] = [
    # 18 characters, or 6-8-4 with spaces or dashes ("110105 19491231 002X").
    ("id_card", _NUM_L + r"(?P<v>[1-9][0-9]{5}(?P<s>[ -]?)[0-9]{8}(?P=s)[0-9]{3}[0-9Xx])(?![0-9A-Za-z])", _id18),
    ("id_card", _NUM_L + r"(?P<v>[1-9][0-9]{5}(?P<s>[ -]?)[0-9]{6}(?P=s)[0-9]{3})" + _NUM_R, _id15),
    # Groups of 4 (12-19 digits), or 4-6-4 / 4-6-5 (Diners, American Express).
    ("bank_card", _NUM_L + r"(?P<v>[1-6][0-9]{3}(?:[ -]?[0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?"
     r"|3[0-9]{3}(?P<s>[ -])[0-9]{6}(?P=s)[0-9]{4,5})" + _NUM_R, _card),
    ("passport", r"(?:护照|(?i:passport))[^\n0-9]{0,12}?"
     r"(?P<v>(?<![A-Za-z0-9])(?:[A-Za-z]{1,2}[0-9]{6,8}|[0-9]{9}))(?![A-Za-z0-9])", None),
    ("medical_record", r"(?:病历号|病案号|住院号|门诊号|就诊号|病历编号|(?i:medical record|MRN))" + _GAP +
     r"(?P<v>(?<![A-Za-z0-9])[A-Za-z]{0,3}[0-9]{5,12})(?![A-Za-z0-9])", None),
    ("qq", r"(?:(?i:qq)|扣扣|企鹅号)" + _GAP + r"(?P<v>" + _NUM_L + r"[1-9][0-9]{4,10})" + _NUM_R, None),
    ("wechat", r"(?:微信|(?i:wechat|weixin)|(?<![A-Za-z])(?i:wx|vx)(?![A-Za-z]))(?P<g>[^\n]{0,10}?)"
     r"(?P<v>(?<![-_A-Za-z0-9])[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])", _wechat),
    ("mobile", _NUM_L + r"(?P<v>(?:(?:\+|00)86[ -]?|\(\+?86\) ?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2})" + _NUM_R, _cn_phone),
    ("landline", _NUM_L + r"(?P<v>(?:(?:\+|00)86[ -]?\(?0?" + _AREA + r"\)?|\(0" + _AREA + r"\)|0" + _AREA +
     r")[ -]?" + _LOCAL + r")" + _NUM_R, _landline),
    ("email", r"(?<![A-Za-z0-9._%+-])(?P<v>[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
     r"[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z0-9-])", _email),
    ("ipv4", r"(?<![0-9.vV])(?P<v>(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
     r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?![0-9]|\.[0-9])", _ipv4),
    ("ipv6", r"(?<![0-9A-Za-z:.])(?P<v>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{0,4}))"
     r"(?![0-9A-Za-z:])", _ipv6),
]

# Every match of the number types (ID, bank card, phones) is made of digits, spaces, ()+- and a final X,
# and is at least 10 characters long: one scan finds these stretches, and the number patterns, whose
# look-behinds start with a digit test, run only on them (a pattern tried at every position of a long
# text costs several times the scan).
_NUMBERISH = re.compile(r"[0-9+(][0-9 ()+\-]{7,}[0-9Xx]")
_NUMBER_TYPES = {"id_card", "bank_card", "mobile", "landline"}
_IPV4_HINT = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]")
# Stretches worth handing to phonenumbers: "+<country> ..." (not +86: the patterns above know China's
# numbers), North American shapes with their punctuation, and ten plain digits after a phone word
# ("My phone number is 4155550132"). Dotted ones ("415.555.0132") are not in a digit stretch: they are
# looked for where the IPv4 hint (a digit, a dot, digits, a dot) already says dots and digits meet.
_PHONE_HINT = re.compile(r"\+(?!86)[1-9](?:[ ()\-]{0,2}[0-9]){7,14}"
                         r"|(?<![0-9])(?:1[ -])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}-)[2-9][0-9]{2}-[0-9]{4}(?![0-9])"
                         r"|(?P<plain>(?<![0-9])[2-9][0-9]{2}[2-9][0-9]{6}(?![0-9]))")
_DOTTED_PHONE = re.compile(r"(?<![0-9.])[2-9][0-9]{2}\.[2-9][0-9]{2}\.[0-9]{4}(?![0-9]|\.[0-9])")
# Context words of the context-gated types, found anywhere (the patterns have no word boundaries either).
# Every text passes this test, so it is split by what is cheap: a literal alternation for the Han words,
# and the Latin words by Aho-Corasick only when one of their first letters occurs (handing a Chinese text
# to the automaton costs its UTF-8 copy, ~5 us for 200 characters).
_CONTEXT_HAN = re.compile("护照|病历|病案|住院号|门诊号|就诊号|扣扣|企鹅号|微信")
_CONTEXT_LATIN = chk.Words(("passport", "medical record", "mrn", "qq", "wechat", "weixin", "wx", "vx"), boundary=False)
_LATIN_FIRST = re.compile("[pmqwvPMQWV]")
# Full-width forms (U+FF01-FF5E) and the ideographic space, read as ASCII: same length, so spans carry over.
# Only a full-width digit, letter or '@' makes a text worth the copy: Chinese punctuation (，：（）) is
# full-width too and is in nearly every Chinese text.
_FULLWIDTH = re.compile("[\uff10-\uff19\uff20-\uff3a\uff41-\uff5a]")
_TO_ASCII = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def ascii_view(text: str) -> str:
    """`text` with full-width digits, letters and signs as ASCII (same length); `text` itself when it has none."""
    if text.isascii() or _FULLWIDTH.search(text) is None:
        return text
    return text.translate(_TO_ASCII)


def _has_context(text: str) -> bool:
    if not text.isascii():
        if _CONTEXT_HAN.search(text) is not None:
            return True
        if _LATIN_FIRST.search(text) is None:
            return False
    return _CONTEXT_LATIN.found(text.lower())


# Which cheap test must pass before a type's pattern is tried.
_GATES = {"passport": "context", "medical_record": "context", "qq": "context", "wechat": "context",
          "email": "at", "ipv4": "ipv4", "ipv6": "ipv6"}


class PiiFinder:
    """All PII candidates in a text, judged, without overlaps. `types` limits what is looked for.

    `examine` returns every judged candidate (what to mask, and what was kept and why); `find` only what
    is personal information. `invalid` counts, per type, numbers whose checksum failed."""

    def __init__(self, types: tuple[str, ...] = PII_TYPES) -> None:
        wanted = set(types)
        self.patterns = [(t, re.compile(p), v) for t, p, v in _PATTERNS if t in wanted]
        self._numbers = [(t, p, v) for t, p, v in self.patterns if t in _NUMBER_TYPES]
        # (gate, type, pattern, judge) for the other types, the gate looked up once here, not per text.
        self._gated = [(_GATES[t], t, p, v) for t, p, v in self.patterns if t not in _NUMBER_TYPES]
        self._phones = "phone" in wanted
        self.invalid: dict[str, int] = {}

    @staticmethod
    def may_contain(text: str) -> bool:
        """False when `text` surely holds no PII of any type: the cheap tests `find` starts with."""
        text = ascii_view(text)
        return ("@" in text or "::" in text or _NUMBERISH.search(text) is not None or _has_context(text)
                or ("." in text and _IPV4_HINT.search(text) is not None) or text.count(":") >= 7)

    def find(self, text: str) -> list[PiiMatch]:
        return [m for m in self.examine(text) if m.verdict == PII]

    def examine(self, text: str) -> list[PiiMatch]:
        original, text = text, ascii_view(text)
        stretches = [(m.start(), m.end()) for m in _NUMBERISH.finditer(text)]
        gates = {"at": "@" in text, "ipv4": "." in text and _IPV4_HINT.search(text) is not None,
                 "ipv6": "::" in text or text.count(":") >= 7, "context": _has_context(text)}
        if not stretches and not any(gates.values()):
            return []
        found: list[PiiMatch] = []
        for kind, pattern, judge in self._numbers:
            for start, end in stretches:  # end + 1: the look-aheads see one more character
                self._collect(found, kind, pattern.finditer(text, start, end + 1), judge, text, original)
        if self._phones:
            hints = [h for start, end in stretches for h in _PHONE_HINT.finditer(text, start, end)]
            if gates["ipv4"]:
                hints += _DOTTED_PHONE.finditer(text)
            if hints:
                found.extend(_phones(text, original, hints))
        for gate, kind, pattern, judge in self._gated:
            if gates[gate]:
                self._collect(found, kind, pattern.finditer(text), judge, text, original)
        if len(found) < 2:
            return found
        found.sort(key=lambda f: (_PRIORITY[f.type], f.start))
        taken: list[PiiMatch] = []
        for f in found:
            if all(f.end <= t.start or f.start >= t.end for t in taken):
                taken.append(f)
        return sorted(taken, key=lambda f: f.start)

    def _collect(self, found: list[PiiMatch], kind: str, matches, judge, text: str, original: str) -> None:
        for m in matches:
            verdict = PII if judge is None else judge(m, text)
            if verdict is None:
                continue
            if verdict == "invalid":
                self.invalid[kind] = self.invalid.get(kind, 0) + 1
                continue
            found.append(PiiMatch(m.start("v"), m.end("v"), kind, original[m.start("v"):m.end("v")], verdict))


def _phones(text: str, original: str, hints) -> list[PiiMatch]:
    """Phone numbers at `hints` (matches of the hint patterns), by libphonenumber: valid numbers only; a
    person's line is PII, a toll-free or premium-rate number is a business's (textbook). Each hint is
    parsed as it stands (one `parse` + `number_type`, ~40 us); one that does not parse whole ("+1 415 555
    0132 2020") goes to the library's matcher, which finds the number inside it."""
    out = []
    for hint in hints:
        s, e = hint.start(), hint.end()
        if hint.re is _PHONE_HINT and hint["plain"] and not chk.PHONE_WORDS.found(chk.before(text, s, 24)):
            continue  # ten plain digits are a phone number only after a phone word
        for a, b, country, kind in _parse_one(text[s:e]):
            if country == 86:
                continue  # mainland numbers: the mobile/landline patterns, with their types
            if chk.number_is_code(text, s + a, chk.PHONE_WORDS, s + b):
                verdict = CODE
            else:
                verdict = TEXTBOOK if kind in _BUSINESS_LINES else PII
            out.append(PiiMatch(s + a, s + b, "phone", original[s + a:s + b], verdict))
    return out


@functools.lru_cache(maxsize=4096)  # a help line or a sample number recurs across a data set
def _parse_one(hint: str) -> tuple[tuple[int, int, int, int], ...]:
    """(start, end, country code, libphonenumber type) of the valid numbers in one hint string."""
    import phonenumbers  # imported here: most runs never reach a stretch that needs it

    try:
        number = phonenumbers.parse(hint, "US")
        kind = phonenumbers.number_type(number)
    except phonenumbers.NumberParseException:
        kind = phonenumbers.PhoneNumberType.UNKNOWN
    if kind != phonenumbers.PhoneNumberType.UNKNOWN:  # a type is only found for a valid number
        return ((0, len(hint), number.country_code, kind),)
    return tuple((m.start, m.end, m.number.country_code, phonenumbers.number_type(m.number))
                 for m in phonenumbers.PhoneNumberMatcher(hint, "US"))


# libphonenumber's PhoneNumberType values of toll-free, premium-rate, shared-cost and UAN numbers.
_BUSINESS_LINES = (3, 4, 5, 9)
