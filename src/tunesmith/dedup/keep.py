"""What a record is compared by (`record_text`), and which record of a duplicate cluster stays: `first`,
`longest` (output), or `score:<meta field>`.

Ties always go to the earlier record, so the choice never depends on how the records were sharded.
"""

from __future__ import annotations

import math
from typing import Sequence

from tunesmith.records.example import Example
from tunesmith.errors import ConfigError

POLICIES = ("first", "longest", "score:<field>")


def check_policy(policy: str) -> str:
    if policy in ("first", "longest") or (policy.startswith("score:") and policy[6:].strip()):
        return policy
    raise ConfigError(f"keep policy '{policy}' is not one of {', '.join(POLICIES)}",
                      "write keep: first, keep: longest, or keep: score:upvotes (a numeric meta field)")


def record_text(example: Example, fields) -> str:
    """The text a record is compared by: its `fields` joined. A preference pair is keyed on its prompt and
    chosen answer: the same question with the same preferred answer is a duplicate whatever answer it was
    preferred over."""
    if example.rejected is not None:
        example = Example(example.turns, example.system, example.meta)
    return "\n".join(example.texts(tuple(fields)))


def choose(cluster: Sequence[int], examples: Sequence[Example], policy: str) -> int:
    """The index (from `cluster`, ascending record indices) of the record to keep."""
    members = sorted(int(i) for i in cluster)
    if policy == "first":
        return members[0]
    if policy == "longest":
        return max(members, key=lambda i: (len(examples[i].output), -i))
    field = policy[6:].strip()
    return max(members, key=lambda i: (_score(examples[i].meta.get(field)), -i))


def _score(value) -> float:
    """A meta value as a number; missing or non-numeric values lose to any number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and not math.isnan(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
            return number if not math.isnan(number) else -math.inf
        except ValueError:
            return -math.inf
    return -math.inf


def record_id(example: Example, index: int) -> str:
    """The id a reject names as its twin: meta id, else source:line, else the position."""
    meta = example.meta
    if meta.get("id") not in (None, ""):
        return str(meta["id"])
    if meta.get("source") and meta.get("line") is not None:
        return f"{meta['source']}:{meta['line']}"
    return f"#{index + 1}"
