"""The texts report.json and report.html show are shown with personal information masked.

The report is the file people pass around; the records it quotes (a few drops per reason, the flagged
records, a sample of each step's changes) were taken wherever they left the pipeline, often before the
pii step ran, or with no pii step at all. So every quoted text goes through the same PiiFinder the pii
step uses, and each value it judges personal (or unsure) becomes `⟨type⟩`, everywhere in that
record, as the pii step masks a value in all of a record's texts once it is personal in one. The
angle brackets differ from the pii step's own placeholders (`<PHONE>`), so a diff of what the pii
step did still shows ⟨mobile⟩ → <PHONE>. rejected.jsonl, changes.jsonl and flagged.jsonl keep the
records as they were: they are for the person who fixes the data.
"""

from __future__ import annotations

import re

from tunesmith.prepare.steps.pii_checks import PII, UNSURE
from tunesmith.prepare.steps.pii_find import PiiFinder

# where a record's own bookkeeping is, not its content: file names, ids and line numbers stay readable
_KEEP = frozenset({"source", "id", "line", "step", "reason", "role"})
# half a surrogate pair (a reject's detail can quote one) cannot be encoded: the finder reads a copy
# of the same length with U+FFFD in its place, and the values it finds are replaced in the original
_SURROGATE = re.compile("[\ud800-\udfff]")


def mask_summary(summary: dict) -> dict:
    """`summary` (ReportBuilder.finish's dict) with the quoted records masked, in place; returned."""
    finder = PiiFinder()
    summary["examples"] = {key: [mask_record(row, finder) for row in rows]
                           for key, rows in summary.get("examples", {}).items()}
    summary["flag_examples"] = {key: [mask_record(row, finder) for row in rows]
                                for key, rows in summary.get("flag_examples", {}).items()}
    changes = summary.get("changes") or {}
    if changes.get("sample"):
        changes["sample"] = {label: [mask_record(row, finder) for row in rows]
                             for label, rows in changes["sample"].items()}
    return summary


def mask_record(value, finder: PiiFinder | None = None):
    """A copy of `value` (a dict/list/str tree) whose personal values are `⟨type⟩` in every string."""
    finder = finder or PiiFinder()
    texts = list(_strings(value))
    personal: dict[str, str] = {}
    for text in texts:
        text = _SURROGATE.sub("\ufffd", text)
        if finder.may_contain(text):
            personal.update({m.text: m.type for m in finder.examine(text) if m.verdict in (PII, UNSURE)})
    if not personal:
        return value
    order = sorted(personal, key=len, reverse=True)  # a longer value first: a number inside it is the same find
    return _map(value, lambda text: _replace(text, order, personal))


def _replace(text: str, order: list[str], personal: dict[str, str]) -> str:
    for found in order:
        if found in text:
            text = text.replace(found, f"⟨{personal[found]}⟩")
    return text


def _strings(value, key: str | None = None):
    if isinstance(value, str):
        if key not in _KEEP:
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v, key)


def _map(value, fn, key: str | None = None):
    if isinstance(value, str):
        return value if key in _KEEP else fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map(v, fn, key) for v in value]
    return value
