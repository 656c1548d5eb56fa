"""`pii`: find personal information in Chinese and English text, and mask it or drop the record.

Types: Chinese resident ID numbers (18 digits with the GB 11643-1999 check digit, and old 15-digit
ones; region and birth date checked too), mainland mobile and landline numbers (+86, separators),
bank card numbers (Luhn), emails, IPv4/IPv6 (validated by `ipaddress`), and, only next to their
context words, passport numbers, QQ and WeChat ids, and medical record numbers. A number that fails
its checksum is not personal information by our rules and is left alone (counted as `invalid:<type>`);
dates are never masked.

Every pattern sits behind a cheap test (a stretch of digits, an '@', a context word), so text
without candidates costs a few string scans, and the number patterns run only on the digit stretches.
Overlapping candidates are resolved by priority (checksummed types first), then by position.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import Field, field_validator

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop, Step, StepOptions, map_texts, read_texts

PII_TYPES = ("id_card", "bank_card", "passport", "medical_record", "qq", "wechat", "mobile", "landline",
             "email", "ipv4", "ipv6")
PLACEHOLDERS = {"id_card": "<ID_CARD>", "bank_card": "<BANK_CARD>", "passport": "<PASSPORT>",
                "medical_record": "<MEDICAL_RECORD>", "qq": "<QQ>", "wechat": "<WECHAT>", "mobile": "<PHONE>",
                "landline": "<PHONE>", "email": "<EMAIL>", "ipv4": "<IP>", "ipv6": "<IP>"}

# Province-level codes that start a resident ID (GB/T 2260).
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
              54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def id18_valid(s: str) -> bool:
    """GB 11643-1999: region, birth date, and the ISO 7064 MOD 11-2 check character."""
    if len(s) != 18 or not s[:17].isdigit() or int(s[:2]) not in _PROVINCES:
        return False
    if not _date_ok(int(s[6:10]), int(s[10:12]), int(s[12:14])) or not 1900 <= int(s[6:10]) <= 2099:
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


def id15_valid(s: str) -> bool:
    """Old 15-digit IDs (before 1999) have no check digit: region and YYMMDD birth date must be valid."""
    return len(s) == 15 and s.isdigit() and int(s[:2]) in _PROVINCES and _date_ok(1900 + int(s[6:8]),
                                                                                    int(s[8:10]), int(s[10:12]))


def _date_ok(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1 or day > _DAYS[month - 1]:
        return False
    return not (month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class PiiMatch:
    start: int
    end: int
    type: str
    text: str


_NUM_L, _NUM_R = r"(?<![0-9])", r"(?![0-9])"
_GAP = r"[^\n0-9]{0,8}?"  # between a context word and its value: "号码是", " number: ", "："
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_LOCAL = r"[2-9][0-9]{6,7}"

# (type, pattern, validator or None). The value is group "v" when the pattern has context around it.
_PATTERNS: list[tuple[str, str, Callable[[re.Match], bool] | None]] = [
    ("id_card", _NUM_L + r"(?P<v>[1-9][0-9]{16}[0-9Xx])(?![0-9A-Za-z])", lambda m: id18_valid(m["v"])),
    ("id_card", _NUM_L + r"(?P<v>[1-9][0-9]{14})" + _NUM_R, lambda m: id15_valid(m["v"])),
    ("bank_card", _NUM_L + r"(?P<v>[2-6][0-9]{3}(?:[ -]?[0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?)" + _NUM_R,
     lambda m: _card_ok(_digits(m["v"]))),
    ("passport", r"(?:护照|(?i:passport))[^\n0-9]{0,12}?"
     r"(?P<v>(?<![A-Za-z0-9])(?:[A-Za-z]{1,2}[0-9]{6,8}|[0-9]{9}))(?![A-Za-z0-9])", None),
    ("medical_record", r"(?:病历号|病案号|住院号|门诊号|就诊号|病历编号|(?i:medical record|MRN))" + _GAP +
     r"(?P<v>(?<![A-Za-z0-9])[A-Za-z]{0,3}[0-9]{5,12})(?![A-Za-z0-9])", None),
    ("qq", r"(?:(?i:qq)|扣扣|企鹅号)" + _GAP + r"(?P<v>" + _NUM_L + r"[1-9][0-9]{4,10})" + _NUM_R, None),
    ("wechat", r"(?:微信|(?i:wechat|weixin)|(?<![A-Za-z])(?i:wx|vx)(?![A-Za-z]))(?P<g>[^\n]{0,10}?)"
     r"(?P<v>(?<![-_A-Za-z0-9])[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])", lambda m: _wechat_ok(m)),
    ("mobile", _NUM_L + r"(?P<v>(?:(?:\+|00)86[ -]?|\(\+?86\) ?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2})" + _NUM_R, None),
    ("landline", _NUM_L + r"(?P<v>(?:(?:\+|00)86[ -]?\(?0?" + _AREA + r"\)?|\(0" + _AREA + r"\)|0" + _AREA +
     r")[ -]?" + _LOCAL + r")" + _NUM_R, None),
    ("email", r"(?<![A-Za-z0-9._%+-])(?P<v>[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
     r"[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z0-9-])", None),
    ("ipv4", r"(?<![0-9.vV])(?P<v>(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
     r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?![0-9]|\.[0-9])", None),
    ("ipv6", r"(?<![0-9A-Za-z:.])(?P<v>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{0,4}))"
     r"(?![0-9A-Za-z:])", lambda m: _ipv6_ok(m["v"])),
]
_PRIORITY = {t: i for i, t in enumerate(PII_TYPES)}


def _digits(s: str) -> str:
    return s.replace(" ", "").replace("-", "")


def _card_ok(d: str) -> bool:
    """Issuer prefix (Visa 4, Mastercard 51-55/2221-2720, Amex 34/37, JCB 35, UnionPay/Discover/Maestro 5x-6x),
    length 13-19, Luhn. The prefix check keeps order numbers and timestamps (20xx..., 1xxx...) out."""
    if not 13 <= len(d) <= 19:
        return False
    ok = d[0] in "456" or d[:2] in ("34", "35", "37") or 2221 <= int(d[:4]) <= 2720
    return ok and luhn_valid(d)


def _wechat_ok(m: re.Match) -> bool:
    # A word right after "WeChat" ("wechat application") is not an id unless it looks like one
    # (has a digit, _ or -) or a separator says a value follows ("微信：", "wechat id is").
    value, gap = m["v"], m["g"].lower()
    return any(c.isdigit() or c in "_-" for c in value) or any(s in gap for s in (":", "：", "是", "为", " is", "id"))


def _ipv6_ok(s: str) -> bool:
    if sum(c in "0123456789abcdefABCDEF" for c in s) < 2:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


# Every match of the number types (ID, bank card, mobile, landline) is made of digits, spaces, ()+- and
# a final X, and is at least 10 characters long: one scan finds these stretches, and the number patterns,
# whose look-behinds start with a digit test, run only on them (a pattern tried at every position of
# a long text costs several times the scan).
_NUMBERISH = re.compile(r"[0-9+(][0-9 ()+\-]{7,}[0-9Xx]")
_NUMBER_TYPES = {"id_card", "bank_card", "mobile", "landline"}
_IPV4_HINT = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]")
# Context words of the context-gated types; plain substring tests are several times faster than a regex here.
_CONTEXT_WORDS_HAN = ("护照", "病历", "病案", "住院号", "门诊号", "就诊号", "扣扣", "企鹅号", "微信")
_CONTEXT_WORDS_LATIN = ("passport", "medical record", "mrn", "qq", "wechat", "weixin", "wx", "vx")


def _has_context(text: str) -> bool:
    if not text.isascii():
        for w in _CONTEXT_WORDS_HAN:  # a loop, not any(<generator>): this runs on every text
            if w in text:
                return True
    low = text.lower()
    for w in _CONTEXT_WORDS_LATIN:
        if w in low:
            return True
    return False


# Which cheap test must pass before a type's pattern is tried.
_GATES = {"passport": "context", "medical_record": "context", "qq": "context", "wechat": "context",
          "email": "at", "ipv4": "ipv4", "ipv6": "ipv6"}


class PiiFinder:
    """All PII in a text, without overlaps. `types` limits what is looked for."""

    def __init__(self, types: tuple[str, ...] = PII_TYPES) -> None:
        wanted = set(types)
        self.patterns = [(t, re.compile(p), v) for t, p, v in _PATTERNS if t in wanted]
        self._numbers = [(t, p, v) for t, p, v in self.patterns if t in _NUMBER_TYPES]
        # (gate, type, pattern, validator) for the other types, the gate looked up once here, not per text.
        self._gated = [(_GATES[t], t, p, v) for t, p, v in self.patterns if t not in _NUMBER_TYPES]
        self.invalid: dict[str, int] = {}

    @staticmethod
    def may_contain(text: str) -> bool:
        """False when `text` surely holds no PII of any type: the cheap tests `find` starts with."""
        return ("@" in text or "::" in text or _NUMBERISH.search(text) is not None or _has_context(text)
                or ("." in text and _IPV4_HINT.search(text) is not None) or text.count(":") >= 7)

    def find(self, text: str) -> list[PiiMatch]:
        spans = [(m.start(), m.end() + 1) for m in _NUMBERISH.finditer(text)]  # +1: the look-aheads see one more
        gates = {"at": "@" in text, "ipv4": "." in text and _IPV4_HINT.search(text) is not None,
                 "ipv6": "::" in text or text.count(":") >= 7, "context": _has_context(text)}
        if not spans and not any(gates.values()):
            return []
        found: list[PiiMatch] = []
        for kind, pattern, valid in self._numbers:
            for start, end in spans:
                self._collect(found, kind, pattern.finditer(text, start, end), valid)
        for gate, kind, pattern, valid in self._gated:
            if gates[gate]:
                self._collect(found, kind, pattern.finditer(text), valid)
        if len(found) < 2:
            return found
        found.sort(key=lambda f: (_PRIORITY[f.type], f.start))
        taken: list[PiiMatch] = []
        for f in found:
            if all(f.end <= t.start or f.start >= t.end for t in taken):
                taken.append(f)
        return sorted(taken, key=lambda f: f.start)

    def _collect(self, found: list[PiiMatch], kind: str, matches, valid) -> None:
        for m in matches:
            if valid is not None and not valid(m):
                if kind in ("id_card", "bank_card"):
                    self.invalid[kind] = self.invalid.get(kind, 0) + 1
                continue
            found.append(PiiMatch(m.start("v"), m.end("v"), kind, m["v"]))


class PiiOptions(StepOptions):
    types: list[str] = Field(default_factory=lambda: list(PII_TYPES), description=(
        "Types to find: " + ", ".join(PII_TYPES) + "."))
    action: Literal["mask", "drop"] = Field("mask", description="Mask each find with its placeholder, or drop the record.")
    actions: dict[str, Literal["mask", "drop"]] = Field(default_factory=dict, description=(
        "Per-type action overriding `action`, e.g. {id_card: drop}."))
    placeholders: dict[str, str] = Field(default_factory=dict, description=(
        "Per-type placeholder overriding the defaults (<ID_CARD>, <PHONE>, <BANK_CARD>, <EMAIL>, <IP>, ...)."))

    @field_validator("types")
    @classmethod
    def _known_types(cls, v):
        bad = [t for t in v if t not in PII_TYPES]
        if bad:
            raise ValueError(f"unknown PII types {bad}; known: {list(PII_TYPES)}")
        return v

    @field_validator("actions", "placeholders")
    @classmethod
    def _known_keys(cls, v):
        bad = [t for t in v if t not in PII_TYPES]
        if bad:
            raise ValueError(f"unknown PII types {bad}; known: {list(PII_TYPES)}")
        return v


class PiiStep(Step):
    """Mask (or drop on) personal information: IDs, phones, cards, emails, IPs, ..."""

    name = "pii"
    Options = PiiOptions

    def __init__(self, options: PiiOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        self.finder = PiiFinder(tuple(o.types))
        self._placeholders = {**PLACEHOLDERS, **o.placeholders}
        self._drop = {t for t in PII_TYPES if o.actions.get(t, o.action) == "drop"}
        self._fields = tuple(o.fields)

    def apply(self, example: Example) -> Example | Drop:
        texts = read_texts(example, self._fields)  # most records hold no PII: one cheap test for all their texts
        if not texts or not self.finder.may_contain(texts[0] if len(texts) == 1 else "\n".join(texts)):
            return example
        self._dropping: PiiMatch | None = None
        self._masked = 0
        before = dict(self.finder.invalid)
        map_texts(example, self._mask, self._fields)
        for kind, n in self.finder.invalid.items():
            if n != before.get(kind, 0):
                self.stats.counts[f"invalid:{kind}"] += n - before.get(kind, 0)
        if self._dropping is not None:
            return Drop(self._dropping.type, f"{self._dropping.type} found")
        if self._masked:
            self.stats.changed += 1
        return example

    def _mask(self, text: str) -> str:
        found = self.finder.find(text)
        if not found:
            return text
        parts, at = [], 0
        for f in found:
            self.stats.counts[f.type] += 1
            if f.type in self._drop and self._dropping is None:
                self._dropping = f
            parts.append(text[at:f.start])
            parts.append(self._placeholders[f.type])
            at = f.end
        parts.append(text[at:])
        self._masked += len(found)
        return "".join(parts)
