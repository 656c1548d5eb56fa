"""Preference records (alignment tuning): one prompt, a chosen and a rejected answer <-> one `Example`.

The pair is an Example whose last assistant turn is the chosen answer and whose `rejected` turn is the
other answer (records/example.py). Layouts, as the field's tools write them:

  alpaca-pair    {"instruction", "input"?, "chosen": str, "rejected": str, "system"?, "history"?}
                 (LLaMA-Factory's alpaca preference data)
  sharegpt-pair  {"conversations": [{"from", "value"}], "chosen": {"from": "gpt", "value"}, "rejected": {...}}
                 (LLaMA-Factory's sharegpt preference data, e.g. dpo_en_demo.json; a system turn may lead)
  messages-pair  {"messages": [{"role", "content"}], "chosen": {"role": "assistant", "content"}, "rejected": ...}
  trl            {"prompt": str, "chosen": str, "rejected": str}            (TRL, standard, explicit prompt)
  trl-chat       {"prompt": [messages], "chosen": [message], "rejected": [message]}  (TRL, conversational)
  trl-implicit   {"chosen": [messages], "rejected": [messages]}: two whole conversations sharing all but
                 their last (assistant) message, which is the answer (TRL's implicit prompt)

Reading accepts a turn as {from, value} or {role, content} (and a bare string for an answer) in any layout,
and a table's (CSV) cells holding JSON text. Writing gives each layout's own shape; a pair written "as"
alpaca, csv, sharegpt, messages or parquet takes that format's pair layout (PAIR_FORM), so that data steps
and `data prepare` keep pairs pairs whatever output format they name. Bad records raise `RecordError`
(the caller adds file:line): a missing or empty answer, a rejected turn that is not an answer, a prompt
that does not end with the user turn both answers reply to, or two answers that are the same text.
"""

from __future__ import annotations

import json
import re

from tunesmith.records.example import Example, Turn
from tunesmith.records.formats import records
from tunesmith.records.formats.records import RecordError

FORMATS = records.PAIR_LAYOUTS  # alpaca-pair, sharegpt-pair, messages-pair, trl, trl-chat, trl-implicit
# The pair layout a single-answer format name stands for when the record is a pair.
PAIR_FORM = {"alpaca": "alpaca-pair", "csv": "alpaca-pair", "sharegpt": "sharegpt-pair",
             "messages": "messages-pair", "parquet": "messages-pair"}
ANSWER_KEYS = ("chosen", "rejected")
_ROLES = {**records.SHAREGPT_ROLES, **records.MESSAGE_ROLES}
_SPACE = re.compile(r"\s+")
_CHAT_KEY = {"sharegpt-pair": "conversations", "messages-pair": "messages"}


def guess(record: dict) -> str | None:
    """The pair layout `record` looks like, or None when it is not a preference record."""
    if "chosen" not in record and "rejected" not in record:
        return None
    if "conversations" in record:
        return "sharegpt-pair"
    if "messages" in record:
        return "messages-pair"
    if "instruction" in record:
        return "alpaca-pair"
    if "prompt" in record:
        return "trl-chat" if isinstance(record["prompt"], list) else "trl"
    return "trl-implicit"


def same_answers(a: str, b: str) -> bool:
    """Whether two answers are one text once whitespace is normalised: such a pair prefers nothing."""
    return _SPACE.sub(" ", a).strip() == _SPACE.sub(" ", b).strip()


def decode_cells(record: dict) -> dict:
    """A table (CSV) row: a prompt or answer cell holding JSON turns ({from, value} / {role, content}, or a
    list of them) becomes those turns. Other text stays text, even when it parses as JSON (an answer may be
    a JSON document)."""
    out = record
    for key in ("prompt",) + ANSWER_KEYS:
        value = record.get(key)
        if not (isinstance(value, str) and value.strip()[:1] in ("[", "{")):
            continue
        try:
            decoded = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            continue
        items = decoded if isinstance(decoded, list) else [decoded]
        if items and all(isinstance(i, dict) and ({"from", "value"} <= i.keys() or {"role", "content"} <= i.keys())
                         for i in items):
            out = {**out, key: decoded}
    return out


# ---------------------------------------------------------------------------------------------
# dict -> Example
# ---------------------------------------------------------------------------------------------

def parse(record: dict, layout: str) -> Example:
    if layout == "alpaca-pair":
        example = _from_alpaca(record)
    elif layout in _CHAT_KEY:
        key = _CHAT_KEY[layout]
        system, turns = _prompt(record.get(key), key, records._text(record, "system", False))
        example = Example(turns + [_answer(record, "chosen")], system,
                          records._extras(record, {key, "system", *ANSWER_KEYS}), _answer(record, "rejected"))
    elif layout in ("trl", "trl-chat"):
        prompt = record.get("prompt")
        if isinstance(prompt, str):
            system, turns = None, [Turn("user", prompt)]
        else:
            system, turns = _prompt(prompt, "prompt", None)
        example = Example(turns + [_answer(record, "chosen")], system,
                          records._extras(record, {"prompt", *ANSWER_KEYS}), _answer(record, "rejected"))
    elif layout == "trl-implicit":
        example = _from_implicit(record)
    else:
        raise ValueError(f"unknown pair layout {layout!r}")
    if same_answers(example.turns[-1].content, example.rejected.content):
        raise RecordError("'chosen' and 'rejected' are the same text (ignoring whitespace): the pair prefers "
                          "nothing")
    return example


def _from_alpaca(record: dict) -> Example:
    if "output" in record:
        raise RecordError("holds both 'output' and 'chosen'/'rejected': a record is an SFT answer or a pair, "
                          "not both")
    chosen, rejected = _answer(record, "chosen"), _answer(record, "rejected")
    rest = {k: v for k, v in record.items() if k not in ANSWER_KEYS}
    example = records._from_alpaca({**rest, "output": chosen.content})
    example.rejected = rejected
    return example


def _from_implicit(record: dict) -> Example:
    sides = {}
    for key in ANSWER_KEYS:
        value = record.get(key)
        if value is None:
            raise RecordError(f"missing '{key}' (fields found: {', '.join(sorted(map(str, record))) or 'none'})")
        if not isinstance(value, list):
            raise RecordError(f"'{key}' is {type(value).__name__}: without a 'prompt' field each answer must be "
                              "the whole conversation (a list of messages); add the prompt as 'prompt'")
        if len(value) < 2:
            raise RecordError(f"'{key}' holds {len(value)} message(s): the implicit-prompt form needs the prompt's "
                              "messages and then the answer")
        system, turns = _prompt(value[:-1], key, None)
        sides[key] = (system, turns, _answer({key: value[-1]}, key))
    (system, turns, chosen), (r_system, r_turns, rejected) = sides["chosen"], sides["rejected"]
    if (system, turns) != (r_system, r_turns):
        raise RecordError("'chosen' and 'rejected' differ before their last message: the implicit-prompt form "
                          "is one conversation with two last answers")
    return Example(turns + [chosen], system, records._extras(record, set(ANSWER_KEYS)), rejected)


def _prompt(items, key: str, system: str | None) -> tuple[str | None, list[Turn]]:
    """(system, turns) of a prompt: turns as {from, value} or {role, content}, ending with a user turn."""
    if not isinstance(items, list):
        raise RecordError(f"'{key}' is {type(items).__name__}, not a list of turns")
    turns: list[Turn] = []
    for n, item in enumerate(items, 1):
        role, text = _turn(item, f"{key} item {n}")
        if role == "system":
            if turns or system is not None:
                raise RecordError(f"{key} item {n}: a system message may only come first")
            system = text
            continue
        turns.append(Turn(role, text))
    if not turns:
        raise RecordError(f"'{key}' holds no user turn: a pair's prompt needs the question both answers reply to")
    if turns[-1].role != "user":
        raise RecordError(f"'{key}' ends with an assistant turn: a pair's prompt must end with the user turn "
                          "both answers reply to")
    return system, turns


def _turn(item, where: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise RecordError(f"{where} is {type(item).__name__}, not an object with from/value or role/content")
    role_key, text_key = ("from", "value") if "from" in item or "value" in item else ("role", "content")
    role = _ROLES.get(str(item.get(role_key)).strip().lower())
    if role is None:
        raise RecordError(f"{where}: role '{item.get(role_key)}' is not one of {sorted(_ROLES)}")
    text = item.get(text_key)
    if not isinstance(text, str):
        raise RecordError(f"{where}: '{text_key}' is {'missing' if text is None else type(text).__name__ + ', not text'}")
    return role, text


def _answer(record: dict, key: str) -> Turn:
    """One answer: text, a turn, or (TRL) a list holding one assistant message."""
    value = record.get(key)
    if value is None:
        found = ", ".join(sorted(map(str, record))) or "none"
        raise RecordError(f"missing '{key}' (fields found: {found}): a pair needs a chosen and a rejected answer")
    if isinstance(value, list):
        if len(value) != 1:
            raise RecordError(f"'{key}' holds {len(value)} messages: a pair's answer is one assistant message")
        value = value[0]
    if isinstance(value, dict):
        role, text = _turn(value, f"'{key}'")
        if role != "assistant":
            raise RecordError(f"'{key}' is a '{value.get('from', value.get('role'))}' turn, not an answer: it must "
                              "be the assistant's (gpt) reply to the prompt")
        value = text
    if not isinstance(value, str):
        raise RecordError(f"'{key}' is {type(value).__name__}, not text or an assistant turn")
    if not value.strip():
        raise RecordError(f"'{key}' is empty: a pair needs two answers")
    return Turn("assistant", value)


# ---------------------------------------------------------------------------------------------
# Example -> dict
# ---------------------------------------------------------------------------------------------

def unwritable(example: Example, layout: str) -> str | None:
    """Why `example` cannot be written in pair `layout` (or, for a pair, in a single-answer format)."""
    layout = PAIR_FORM.get(layout, layout)
    if layout not in FORMATS:
        return (f"a preference pair has two answers and {layout} holds one per turn: choose a pair format "
                f"({', '.join(FORMATS)})")
    if not example.is_pair:
        return "not a preference pair (no rejected answer): write it as alpaca, sharegpt or messages"
    turns = example.turns
    if len(turns) < 2 or turns[-1].role != "assistant":
        return "a pair needs a prompt ending with a user turn, then the chosen answer"
    why = records.unwritable(Example(turns, example.system), "alpaca" if layout == "alpaca-pair" else "messages")
    if why:
        return why
    if layout == "trl" and (len(turns) != 2 or example.system is not None):
        return ("TRL's text form holds one user prompt and no system prompt; this pair has "
                f"{len(turns) - 1} prompt turn(s){' and a system prompt' if example.system is not None else ''}: "
                "write it as trl-chat")
    return None


def dump(example: Example, layout: str) -> dict:
    """One record of pair `layout`; extra meta fields come back as fields."""
    layout = PAIR_FORM.get(layout, layout)
    why = unwritable(example, layout)
    if why:
        raise RecordError(why)
    chosen, rejected = example.turns[-1].content, example.rejected.content
    prompt = Example(example.turns[:-1], example.system, example.meta)
    if layout == "alpaca-pair":
        base = records.dump(Example(example.turns, example.system, example.meta), "alpaca")
        out = {k: base.pop(k) for k in ("instruction", "input")}
        del base["output"]
        return {**out, "chosen": chosen, "rejected": rejected, **base}
    if layout in _CHAT_KEY:
        base = records.dump(prompt, layout.removesuffix("-pair"))
        key = _CHAT_KEY[layout]
        names = ("from", "value", "gpt") if layout == "sharegpt-pair" else ("role", "content", "assistant")
        answer = lambda text: {names[0]: names[2], names[1]: text}  # noqa: E731
        return {key: base.pop(key), "chosen": answer(chosen), "rejected": answer(rejected), **base}
    base = records.dump(prompt, "messages")
    messages = base.pop("messages")
    if layout == "trl":
        return {"prompt": messages[0]["content"], "chosen": chosen, "rejected": rejected, **base}
    if layout == "trl-chat":
        return {"prompt": messages, "chosen": [_message(chosen)], "rejected": [_message(rejected)], **base}
    return {"chosen": messages + [_message(chosen)], "rejected": messages + [_message(rejected)], **base}


def _message(text: str) -> dict:
    return {"role": "assistant", "content": text}
