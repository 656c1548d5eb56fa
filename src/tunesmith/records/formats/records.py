"""Record layouts: one plain dict (a JSON line, a CSV row, a Parquet row) <-> one `Example`.

Layouts:
  alpaca        {"instruction", "input", "output", "system"?, "history"?: [[user, assistant], ...]}
  sharegpt      {"conversations": [{"from": "human"|"gpt"|"system", "value": ...}], "system"?}
  messages      {"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}
  conversation  {"text": "<s>System: ...\\n</s><s>Human: ...\\n</s><s>Assistant: ...\\n</s>"} (FlagAlpha)
  csv           the alpaca columns of a table, renamed by a column mapping
  *-pair, trl*  preference pairs (PAIR_LAYOUTS): see preference.py

Fields a layout does not know are kept in `meta` and written back out. Parsing raises `RecordError`
with a reason a person can act on; the caller adds the file and line.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from tunesmith.records.example import Example, Turn

LAYOUTS = ("alpaca", "sharegpt", "messages", "conversation", "csv")
# Preference pairs (one prompt, chosen and rejected answers): read and written by preference.py.
PAIR_LAYOUTS = ("alpaca-pair", "sharegpt-pair", "messages-pair", "trl", "trl-chat", "trl-implicit")

# meta keys the readers set themselves; a record field with one of these names is kept as "field:<name>".
POSITION_KEYS = ("source", "line")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}
MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system"}
CONVERSATION_ROLES = {"Human": "user", "Assistant": "assistant", "System": "system"}
# FlagAlpha's text: each turn is <s>Role: content\n</s>; the newline before </s> is optional on input.
_SEGMENT = re.compile(r"<s>(Human|Assistant|System): (.*?)\n?</s>", re.S)
_CONVERSATION_START = re.compile(r"\s*<s>(Human|Assistant|System):")
# Structured fields that a table (CSV) stores as JSON text in one cell.
JSON_CELLS = ("history", "conversations", "messages")


class RecordError(ValueError):
    """A record that cannot become an Example; the message says why."""


def guess(record: dict) -> str | None:
    """The single-answer layout a record looks like, from its fields; None when it looks like none
    (formats.guess asks preference.guess first: a pair's fields overlap these layouts')."""
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "messages"
    if "instruction" in record or "output" in record:
        return "alpaca"
    text = record.get("text")
    if isinstance(text, str) and _CONVERSATION_START.match(text):
        return "conversation"
    return None


def rename(record: dict, columns: dict | None) -> dict:
    """Apply a column mapping {our_field: their_field}, e.g. {"instruction": "question"}."""
    if not columns:
        return record
    out = dict(record)
    for ours, theirs in columns.items():
        if theirs in out and ours != theirs:
            out[ours] = out.pop(theirs)
    return out


def decode_json_cells(record: dict) -> dict:
    """Tables keep lists as JSON text; turn those cells back into lists."""
    out = dict(record)
    for key in JSON_CELLS:
        value = out.get(key)
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError as e:
                raise RecordError(f"column '{key}' holds text that is not a JSON list ({e.msg})") from None
            except RecursionError:
                raise RecordError(f"column '{key}' holds JSON nested too deep to read") from None
        elif isinstance(value, str) and not value.strip() and key == "history":
            out[key] = None
    return out


# ---------------------------------------------------------------------------------------------
# dict -> Example
# ---------------------------------------------------------------------------------------------

def parse(record: dict, layout: str) -> Example:
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, found {type(record).__name__}")
    if layout in ("alpaca", "csv"):
        return _from_alpaca(record)
    if layout == "sharegpt":
        return _from_chat(record, "conversations", "from", "value", SHAREGPT_ROLES)
    if layout == "messages":
        return _from_chat(record, "messages", "role", "content", MESSAGE_ROLES)
    if layout == "conversation":
        return _from_conversation(record)
    raise ValueError(f"unknown layout {layout!r}")


def _text(record: dict, key: str, required: bool) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            found = ", ".join(sorted(map(str, record))) or "none"
            raise RecordError(f"missing '{key}' (fields found: {found})")
        return None
    if not isinstance(value, str):
        raise RecordError(f"'{key}' is {type(value).__name__}, not text")
    return value


def _from_alpaca(record: dict) -> Example:
    instruction = _text(record, "instruction", True)
    output = _text(record, "output", True)
    input_ = _text(record, "input", False)
    system = _text(record, "system", False)
    turns: list[Turn] = []
    history = record.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise RecordError(f"'history' is {type(history).__name__}, not a list of [user, assistant] pairs")
        for n, pair in enumerate(history, 1):
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(x, str) for x in pair)):
                raise RecordError(f"history item {n} is not a [user, assistant] pair of texts")
            turns += [Turn("user", pair[0]), Turn("assistant", pair[1])]
    turns += [Turn("user", instruction, input_ or None), Turn("assistant", output)]
    known = {"instruction", "output", "input", "system", "history"}
    return Example(turns, system, _extras(record, known))


def _from_chat(record: dict, key: str, role_key: str, text_key: str, roles: dict) -> Example:
    items = record.get(key)
    if not isinstance(items, list):
        raise RecordError(f"'{key}' is {type(items).__name__}, not a list of turns")
    if not items:
        raise RecordError(f"empty conversation: '{key}' has no turns")
    system = _text(record, "system", False)
    turns: list[Turn] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise RecordError(f"{key} item {n} is {type(item).__name__}, not an object with '{role_key}'")
        role = roles.get(str(item.get(role_key)).strip().lower() if item.get(role_key) is not None else None)
        if role is None:
            raise RecordError(f"{key} item {n}: role '{item.get(role_key)}' is not one of {sorted(roles)}")
        text = item.get(text_key)
        if not isinstance(text, str):
            what = "missing" if text is None else f"{type(text).__name__}, not text"
            raise RecordError(f"{key} item {n}: '{text_key}' is {what}")
        if role == "system":
            if turns or system is not None:
                raise RecordError(f"{key} item {n}: a system message may only come first")
            system = text
            continue
        turns.append(Turn(role, text))
    if not turns:
        raise RecordError(f"empty conversation: '{key}' holds only a system message")
    return Example(turns, system, _extras(record, {key, "system"}))


def _from_conversation(record: dict) -> Example:
    text = _text(record, "text", True)
    system, turns = parse_conversation_text(text)
    return Example(turns, system, _extras(record, {"text"}))


def parse_conversation_text(text: str) -> tuple[str | None, list[Turn]]:
    """FlagAlpha's `<s>Human: ...\\n</s><s>Assistant: ...\\n</s>` text -> (system, turns)."""
    pos, system, turns = 0, None, []
    stripped = text.rstrip()
    while True:
        while pos < len(stripped) and stripped[pos] in " \t\r\n":
            pos += 1
        if pos >= len(stripped):
            break
        m = _SEGMENT.match(stripped, pos)
        if not m:
            snippet = stripped[pos:pos + 40].replace("\n", "\\n")
            raise RecordError(f"expected '<s>Human: ...</s>' or '<s>Assistant: ...</s>' at character {pos}, "
                              f"found '{snippet}'")
        role = CONVERSATION_ROLES[m.group(1)]
        if role == "system":
            if turns or system is not None:
                raise RecordError("'<s>System: ...</s>' may only come first")
            system = m.group(2)
        else:
            turns.append(Turn(role, m.group(2)))
        pos = m.end()
    if not turns:
        raise RecordError("empty conversation: no '<s>Human: ...</s>' turn")
    return system, turns


def _extras(record: dict, known: set) -> dict:
    meta = {}
    for key, value in record.items():
        if key in known:
            continue
        meta[f"field:{key}" if key in POSITION_KEYS else key] = value
    return meta


# ---------------------------------------------------------------------------------------------
# Example -> dict
# ---------------------------------------------------------------------------------------------

def unwritable(example: Example, layout: str) -> str | None:
    """Why `example` cannot be written in `layout` (None when it can)."""
    if example.is_pair or layout in PAIR_LAYOUTS:  # formats.unwritable asks preference.py for those
        return "a preference pair is written by tunesmith.records.formats (preference.py), not as one answer"
    if not example.turns:
        return "empty conversation: no turns"
    for i, turn in enumerate(example.turns):
        if turn.role != ("user", "assistant")[i % 2]:
            return "turns must alternate user, assistant, starting with user"
    if layout in ("alpaca", "csv"):
        if example.turns[-1].role != "assistant":
            return "alpaca needs an output: the last turn is not an assistant answer"
        if any(t.input for t in example.turns[:-2]):
            return "alpaca history cannot hold an input on an earlier turn"
    if layout == "conversation":
        texts = [example.system or ""] + [t.text for t in example.turns]
        if any("<s>" in t or "</s>" in t for t in texts):
            return "the text holds '<s>' or '</s>', which the conversation format uses as turn markers"
    return None


def dump(example: Example, layout: str) -> dict:
    """One record of `layout`; extra meta fields come back as fields (a preference pair: preference.dump)."""
    why = unwritable(example, layout)
    if why:
        raise RecordError(why)
    if layout in ("alpaca", "csv"):
        *history, user, answer = example.turns
        out: dict = {"instruction": user.content, "input": user.input or "", "output": answer.content}
        if example.system is not None:
            out["system"] = example.system
        if history:
            pairs = [[history[i].text, history[i + 1].content] for i in range(0, len(history), 2)]
            out["history"] = json.dumps(pairs, ensure_ascii=False) if layout == "csv" else pairs
    elif layout == "sharegpt":
        out = {"conversations": [{"from": "human" if t.role == "user" else "gpt", "value": t.text}
                                 for t in example.turns]}
        if example.system is not None:
            out["system"] = example.system
    elif layout == "messages":
        system = [{"role": "system", "content": example.system}] if example.system is not None else []
        out = {"messages": system + [{"role": t.role, "content": t.text} for t in example.turns]}
    elif layout == "conversation":
        out = {"text": conversation_text(example)}
    else:
        raise ValueError(f"unknown layout {layout!r}")
    # "field:<name>" holds a record's own value where a reader's key shadows it: it wins.
    for key, value in sorted(example.meta.items(), key=lambda kv: not kv[0].startswith("field:")):
        if key in POSITION_KEYS or (key == "id" and value == default_id(example.meta)):
            continue  # where the record was read from is not part of the record
        out.setdefault(key.removeprefix("field:"), value)
    return out


def default_id(meta: dict) -> str | None:
    """The id a reader gives a record without its own: "<file stem>:<line>"."""
    if "source" not in meta or "line" not in meta:
        return None
    return f"{_stem(str(meta['source']))}:{meta['line']}"


@lru_cache(maxsize=64)
def _stem(source: str) -> str:
    # Every record of a file asks this twice (read, write): building a Path each time cost more than
    # parsing the record's JSON.
    return Path(source).stem


def conversation_text(example: Example) -> str:
    parts = [f"<s>System: {example.system}\n</s>"] if example.system is not None else []
    names = {"user": "Human", "assistant": "Assistant"}
    parts += [f"<s>{names[t.role]}: {t.text}\n</s>" for t in example.turns]
    return "".join(parts)
