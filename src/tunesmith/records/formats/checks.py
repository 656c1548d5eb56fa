"""Why a record read from a file is not text a model can learn, though its JSON (or CSV) parsed.

    encoding_problem(raw)          bytes that are not text in the file's encoding (kept as surrogates
                                   by the readers' surrogateescape decoding), with a guess at the encoding
    hostile_value(raw, value)      a lone surrogate, or nesting deeper than any record has
    readable(raw)                  raw text fit for a reject file or a message

Each answer is the reason of a read reject (file:line), so that one such record never stops a run:
the reader rejects it and reading goes on. The checks cost one scan of the raw text per record; only
a record that trips the scan has its value walked.
"""

from __future__ import annotations

import re
from typing import Any

_UNDECODABLE = re.compile(r"[\udc80-\udcff]")  # what surrogateescape makes of bytes it cannot decode


def encoding_problem(raw: str, encoding: str = "utf-8") -> str | None:
    """Why `raw` is not clean text in `encoding` (None when it is), with a guess at the right one."""
    if not _UNDECODABLE.search(raw):
        return None
    data = raw.encode(encoding, errors="surrogateescape")
    for guess in ("gb18030", "big5", "latin-1"):
        try:
            data.decode(guess)
        except UnicodeDecodeError:
            continue
        name = "GBK/GB18030" if guess == "gb18030" else guess
        return (f"not {encoding} text (it decodes as {name}: convert the file, e.g. "
                f"iconv -f {guess} -t utf-8, or pass --encoding {guess})")
    return f"not {encoding} text"


def readable(raw: str) -> str:
    """Raw text with undecodable bytes shown as \\xNN (and lone surrogates as \\uXXXX), for reject files
    and messages."""
    if not _UNDECODABLE.search(raw):
        return raw
    try:
        data = raw.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is not an undecodable byte
        return raw.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return data.decode("utf-8", errors="backslashreplace")


# Python's JSON reader stops at ~1000 levels of nesting, less the stack in use (RecursionError).
TOO_DEEP = ("a JSON value nested too deep to read (Python's JSON reader stops near 1000 levels of [ and {): "
            "not a record")
# What does parse may still be too deep for what comes after (json.dumps, pickle to a worker, a step's
# own recursion), each of which would fail at a depth that depends on its stack. No instruction record
# nests anywhere near this (a tool schema: ~10 levels); past it a value is garbage or an attack on the
# reader, and is rejected at a fixed depth here instead of crashing somewhere later.
MAX_DEPTH = 200

# A JSON escape of a UTF-16 surrogate ("\ud83d"): json.loads joins a high and a low one into one
# character, and leaves a lone one as a lone surrogate in the str: half a character, often an emoji cut
# in two. UTF-8 cannot hold it and no tokenizer can train on it, and guessing the missing half would
# change the text, so the record is rejected for a person to fix, not repaired or kept.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE = re.compile(r"[\ud800-\udfff]")


def hostile_value(raw: str, value: Any, depth: bool = True) -> str | None:
    """Why the parsed `value` (of raw text `raw`) cannot be kept, else None: a lone surrogate, or
    nesting deeper than MAX_DEPTH (`depth=False`: the reader checked that already, see `too_deep`)."""
    surrogate = "\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None
    if not (surrogate or (depth and _may_nest(raw))):
        return None  # the common case: the value is not walked
    return _walk(value, surrogate)


def too_deep(raw: str, value: Any) -> str | None:
    """Why `value` nests too deep to keep (see MAX_DEPTH), else None. For the readers, which must not
    hand such a value on (pickling it to a worker would fail)."""
    return _walk(value, surrogate=False) if _may_nest(raw) else None


def _walk(value: Any, surrogate: bool) -> str | None:
    stack = [("", value, 0)]
    while stack:  # iterative: a value may nest deeper than Python's stack allows recursion
        where, item, depth = stack.pop()
        if isinstance(item, str):
            found = _LONE.search(item) if surrogate else None
            if found:
                return (f"holds a lone surrogate \\u{ord(found.group()):04x}{_at(where)} (half of a UTF-16 "
                        f"pair, e.g. an emoji cut in two): not text that UTF-8 can hold or a model can learn; "
                        f"fix the source")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"a JSON value nested deeper than {MAX_DEPTH} levels{_at(where)}: not a record"
            if isinstance(item, list):
                stack += [(f"{where}[{i}]", v, depth + 1) for i, v in enumerate(item)]
                continue
            for key, v in item.items():
                path = f"{where}.{key}" if where else str(key)
                stack += [(path, key, depth + 1), (path, v, depth + 1)]  # keys are text too
    return None


def _may_nest(raw: str) -> bool:
    return raw.count("[") + raw.count("{") > MAX_DEPTH  # fewer brackets cannot nest deeper


def _at(where: str) -> str:
    if not where:
        return ""
    where = where if len(where) <= 60 else where[:60] + "…"
    return f" in field '{where.encode('utf-8', 'backslashreplace').decode('utf-8')}'"
