"""Record steps keep no per-record state on themselves: what a step learns about one record (what it
asks, what was found, the flags to set) lives in that call, so one step object can serve any records,
in any order, and the runner's tally (`step.stats`) is the only thing a record changes on it."""

from __future__ import annotations

import pytest

from tunesmith.prepare.steps import STEPS, Step
from tunesmith.records.example import Example, Turn

RECORDS = [
    Example.single("Visit https://example.com and describe it.", "It is a page <b>about</b> examples."),
    Example.single("我的手机号是 13812345678，请记住。", "好的，已记住您的号码。"),
    Example.single("Write HTML for a link.", "```html\n<a href=\"https://x.org\">x</a>\n```"),
    Example([Turn("user", "hi  there"), Turn("assistant", "Hello!\n\n\n\nHow can I help?"),
             Turn("user", "email me at a.b@example.org"), Turn("assistant", "I cannot send email.")],
            system="You are helpful."),
]
# Steps that need a model or a required option are built by their own tests.
NEEDS_MORE = {"token_length", "perplexity", "meta"}


def record_steps():
    return [name for name, cls in STEPS.items() if issubclass(cls, Step) and name not in NEEDS_MORE]


@pytest.mark.parametrize("name", record_steps())
def test_a_record_changes_nothing_on_the_step_but_its_tally(name):
    step = STEPS[name]()
    before = {k: id(v) for k, v in vars(step).items() if k != "stats"}
    for example in RECORDS + RECORDS:
        step.apply(example.copy())
    after = {k: id(v) for k, v in vars(step).items() if k != "stats"}
    moved = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not moved, f"{name} keeps per-record state on itself: {moved}"


def test_the_steps_checked_include_the_ones_that_rewrite_records():
    assert {"clean", "pii", "language", "quality", "machine_text", "safety", "length"} <= set(record_steps())
