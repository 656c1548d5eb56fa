"""`pii`: find personal information in Chinese and English text, and mask it or drop the record.

Types: Chinese resident ID numbers (18 digits with the GB 11643-1999 check digit, also written 6-8-4,
and old 15-digit ones; region and birth date checked too), mainland mobile and landline numbers (+86,
separators), phone numbers of other countries (`phone`, validated by libphonenumber), payment cards
(issuer prefix, length and Luhn: Visa, Mastercard, UnionPay, American Express, Diners, JCB, Maestro, ...),
emails, IPv4/IPv6 (validated by `ipaddress`), and, only next to their context words, passport numbers,
QQ and WeChat ids, and medical record numbers. Full-width digits count as digits.

The contract: only a value that is personal information of its type is masked. A number that fails its
checksum is left alone (counted as `invalid:<type>`); dates are never masked; a value of the right type
that is nobody's (`textbook:<type>`: documentation, reserved and private addresses in a how-to, public
resolvers, masks like 255.255.255.0, `example.com` mailboxes, toll-free numbers) is kept, unless
`textbook: mask`; a number that its context calls something else (`code:<type>`: invoice and courier
numbers, barcodes, versions) is kept; and a value that may or may not be someone's (`unsure:<type>`: a
private address with no networking words around it, a mailbox at a placeholder domain) is kept and the
record flagged for review. How each is judged: `pii_checks`; how candidates are found: `pii_find`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, map_texts, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.pii_checks import CODE, PII, UNSURE, id15_valid, id18_valid, luhn_valid
from tunesmith.prepare.steps.pii_find import PII_TYPES, PiiFinder, PiiMatch

__all__ = ["PII_TYPES", "PLACEHOLDERS", "PiiFinder", "PiiMatch", "PiiOptions", "PiiStep", "id15_valid",
           "id18_valid", "luhn_valid"]

PLACEHOLDERS = {"id_card": "<ID_CARD>", "bank_card": "<BANK_CARD>", "passport": "<PASSPORT>",
                "medical_record": "<MEDICAL_RECORD>", "qq": "<QQ>", "wechat": "<WECHAT>", "phone": "<PHONE>",
                "mobile": "<PHONE>", "landline": "<PHONE>", "email": "<EMAIL>", "ipv4": "<IP>", "ipv6": "<IP>"}


class PiiOptions(StepOptions):
    types: list[str] = Field(default_factory=lambda: list(PII_TYPES), description=(
        "Types to find: " + ", ".join(PII_TYPES) + "."))
    action: Literal["mask", "drop"] = Field("mask", description="Mask each find with its placeholder, or drop the record.")
    actions: dict[str, Literal["mask", "drop"]] = Field(default_factory=dict, description=(
        "Per-type action overriding `action`, e.g. {id_card: drop}."))
    placeholders: dict[str, str] = Field(default_factory=dict, description=(
        "Per-type placeholder overriding the defaults (<ID_CARD>, <PHONE>, <BANK_CARD>, <EMAIL>, <IP>, ...)."))
    textbook: Literal["keep", "mask"] = Field("keep", description=(
        "Values of a PII type that are nobody's (documentation, reserved and private addresses, example.com "
        "mailboxes, toll-free numbers): keep them as they are (counted as textbook:<type>; the unsure ones "
        "flagged), or mask them like any other find. Numbers that context names a code (invoice, courier, "
        "barcode, version) are kept either way."))

    @field_validator("types", "actions", "placeholders")  # a list of types, or mappings keyed by type
    @classmethod
    def _known_types(cls, v):
        bad = [t for t in v if t not in PII_TYPES]
        if bad:
            raise ValueError(f"unknown PII types {bad}; known: {list(PII_TYPES)}")
        return v


@dataclass
class _Record:
    """What masking one record finds on the way: held per record, never on the step."""
    found: dict                                   # text -> its matches, judged
    personal: set                                 # (type, value) judged personal in any text of the record
    dropping: PiiMatch | None = None              # the first match of a type whose action is drop
    masked: int = 0
    unsure: list[str] = field(default_factory=list)


@register
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
        self._keep_textbook = o.textbook == "keep"

    def apply(self, example: Example) -> Example | Drop:
        texts = read_texts(example, self._fields)  # most records hold no PII: one cheap test for all their texts
        if not texts or not self.finder.may_contain(texts[0] if len(texts) == 1 else "\n".join(texts)):
            return example
        before = dict(self.finder.invalid)
        found = {text: self.finder.examine(text) for text in texts}
        # A value that is PII in one text is PII in all of them: "我的邮箱是 x@example.com" in the question
        # masks x@example.com in the tool call's arguments too, so the record stays consistent.
        record = _Record(found, {(m.type, m.text) for matches in found.values() for m in matches if m.verdict == PII})
        map_texts(example, lambda text: self._mask(text, record), self._fields)
        for kind, n in self.finder.invalid.items():
            if n != before.get(kind, 0):
                self.stats.counts[f"invalid:{kind}"] += n - before.get(kind, 0)
        if record.dropping is not None:
            return Drop(record.dropping.type, f"{record.dropping.type} found")
        if record.masked:
            self.stats.changed += 1
        for kind in sorted(set(record.unsure)):  # kept, not masked: a reviewer decides
            self.flag(example, f"unsure:{kind}", f"a {kind} value that may be someone's was kept")
        return example

    def _mask(self, text: str, record: "_Record") -> str:
        found = record.found.get(text)
        if found is None:
            found = self.finder.examine(text)
        if not found:
            return text
        parts, at = [], 0
        for f in found:
            keep = f.verdict != PII and (f.type, f.text) not in record.personal
            if keep and (self._keep_textbook or f.verdict == CODE):
                self.stats.counts[f"{f.verdict}:{f.type}"] += 1
                if f.verdict == UNSURE:
                    record.unsure.append(f.type)
                continue
            self.stats.counts[f.type] += 1
            if f.type in self._drop and record.dropping is None:
                record.dropping = f
            parts.append(text[at:f.start])
            parts.append(self._placeholders[f.type])
            at = f.end
            record.masked += 1
        parts.append(text[at:])
        return "".join(parts) if at else text
