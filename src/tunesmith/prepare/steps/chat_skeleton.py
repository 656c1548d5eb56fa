"""The `auto` template without running Jinja per record: a conversation shape's pieces, with the texts left as holes.

`AutoTemplate.turn_pieces` renders the tokenizer's Jinja chat template twice per turn, which costs far
more than counting the tokens. But most chat templates only paste each message's text between fixed
strings. For such a template, the pieces of a conversation of a given shape (a system prompt or not, n
turns) are the same for every record once the texts are cut out, so they are computed once per shape,
with placeholder texts, by `turn_pieces` itself, and a record's pieces are the skeleton with its texts
put back.

The contract: `runs(example)` returns the text runs and id count that `turn_pieces` + `merge_text` give
for the record, or None, and None whenever this cannot be vouched for. A shape is only used when:

- the template provably does nothing with a message's text but paste it: it is rendered once with texts
  that record every operation made on them (comparison, `in`, length, slicing, `strip`/`trim` and any other
  method: only concatenation and output are allowed), and the placeholder, which holds the characters
  any escaping, JSON quoting or trimming would change, comes out verbatim as a whole content piece;
- the template uses no `int`/`float` filter (a C conversion that reads the text without a method call).

A record is only filled in when its texts contain no placeholder, none of them is empty where the template
tests a text's truth, none is a substring of a string constant of the template (`text in '...'` reads the
text without a method call), and a system prompt that lands in template text (where special-token strings
become token ids) forms no special-token string with the text around it. Everything else (Llama 2's and
Llama 3's templates strip the texts, for instance) goes through `turn_pieces` as before.
"""

from __future__ import annotations

import regex

from tunesmith.records.example import Example, Turn
from tunesmith.text.render import text_runs

_MARK = "\u2063TSK{}\u2063"
# Around the marker: what trimming, escaping or JSON quoting would change, so a changed text shows.
_HOLE = " \n\"'<&\\" + _MARK + "\\&>'\"\n "
_ALLOWED = {"str", "add", "radd"}


class _Traced(str):
    """A message text that notes, in `ops`, every operation the template makes on it."""

    ops: set = set()

    def __new__(cls, value, ops):
        obj = super().__new__(cls, value)
        obj.ops = ops
        return obj

    def _note(self, name):
        self.ops.add(name)

    def __getattribute__(self, name):
        if not name.startswith("_") and name != "ops":
            str.__getattribute__(self, "ops").add(name)  # strip, startswith, split, replace, ...
        return str.__getattribute__(self, name)

    def __str__(self):
        self._note("str")
        return str.__str__(self)

    def __add__(self, other):
        self._note("add")
        return _Traced(str.__add__(self, other), self.ops)

    def __radd__(self, other):
        self._note("radd")
        return _Traced(str.__add__(other, self), self.ops)

    def __format__(self, spec):
        self._note("str" if not spec else "format")
        return str.__format__(self, spec)

    def __bool__(self):
        self._note("bool")
        return bool(str.__len__(self))


def _noting(name):
    def method(self, *args):
        self._note(name)
        return getattr(str, name)(self, *args)
    return method


for _name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__", "__len__", "__getitem__",
              "__iter__", "__mod__", "__rmod__", "__mul__", "__rmul__", "__hash__"):
    setattr(_Traced, _name, _noting(_name))


class Skeletons:
    """Skeleton pieces per conversation shape for one AutoTemplate (see the module docstring)."""

    def __init__(self, template) -> None:
        self.template = template
        self.tokenizer = template.tokenizer
        self._shapes: dict[tuple[bool, int], _Shape | None] = {}
        self._source = self._chat_template()
        self._constants, self._converts = self._scan(self._source)
        strings = sorted(set(_special_strings(self.tokenizer)), key=len, reverse=True)
        self._special = regex.compile("|".join(map(regex.escape, strings))) if strings else None
        self._longest = max(map(len, strings), default=0)

    def runs(self, example: Example) -> tuple[list[list[str]], int] | None:
        if self._source is None or self._converts:
            return None
        key = (example.system is not None, len(example.turns))
        if key not in self._shapes:
            self._shapes[key] = self._build(*key)
        shape = self._shapes[key]
        if shape is None:
            return None
        texts = [t.text for t in example.turns]
        if example.system is not None:
            texts.append(example.system)
        for text in texts:
            if "\u2063TSK" in text or (shape.truth and not text):
                return None
            if len(text) <= self._const_len and any(text in c for c in self._constants):
                return None
        if example.system is not None and shape.system_windows and not self._system_fits(shape, example.system):
            return None
        runs = [[p if isinstance(p, str) else "".join(texts[x] if isinstance(x, int) else x for x in p)
                 for p in run] for run in shape.runs]
        return runs, shape.ids

    # -- building a shape -------------------------------------------------------------------------
    def _build(self, has_system: bool, n: int) -> "_Shape | None":
        marks = [_HOLE.format(i) for i in range(n + 1)]
        system = marks[n] if has_system else None
        turns = [Turn(("user", "assistant")[i % 2], marks[i]) for i in range(n)]
        try:
            ops = self._trace(has_system, n)
            if ops is None or not ops <= _ALLOWED | {"bool"}:
                return None
            pieces = [p for turn in self.template.turn_pieces(system, turns) for p in turn]
            full = self.tokenizer.apply_chat_template(self._messages(system, turns), tokenize=False)
        except Exception:  # the template refuses this shape: turn_pieces will say why, record by record
            return None
        for i in range(n):  # every turn's text is one whole piece of its own
            holders = [p for p in pieces if p.text is not None and marks[i] in p.text]
            if not holders or any(p.text != marks[i] for p in holders):
                return None
        windows = []
        if has_system:
            if not any(p.text is not None and system in p.text for p in pieces):
                return None
            if any(p.text is not None and system in p.text and p.text != system for p in pieces):
                windows = self._windows(full, system)
        runs, ids = text_runs([pieces], lambda text: self._holes(text, marks))  # merged as one list, as built
        return _Shape(runs, ids, "bool" in ops, windows)

    @staticmethod
    def _holes(text: str, marks: list[str]):
        """A piece text as a str (no hole) or a list of literal strings and hole indexes."""
        parts: list = []
        rest = text
        while True:
            found = [(rest.find(m), i) for i, m in enumerate(marks) if m in rest]
            if not found:
                break
            at, i = min(found)
            if at:
                parts.append(rest[:at])
            parts.append(i)
            rest = rest[at + len(marks[i]):]
        if not parts:
            return text
        if rest:
            parts.append(rest)
        return parts

    def _windows(self, full: str, system: str) -> list[tuple[str, str]]:
        """The text around each place the system prompt lands, as far as a special-token string reaches."""
        out, at, reach = [], full.find(system), max(self._longest - 1, 0)
        while at >= 0:
            out.append((full[max(0, at - reach):at], full[at + len(system):at + len(system) + reach]))
            at = full.find(system, at + 1)
        return out

    def _system_fits(self, shape: "_Shape", system: str) -> bool:
        """No special-token string overlaps the system prompt where it lands in template text."""
        if self._special is None:
            return True
        for left, right in shape.system_windows:
            start, end = len(left), len(left) + len(system)
            for m in self._special.finditer(left + system + right, overlapped=True):
                if m.start() < end and m.end() > start:
                    return False
        return True

    # -- proving the template only pastes texts ----------------------------------------------------
    @staticmethod
    def _messages(system, turns) -> list[dict]:
        head = [{"role": "system", "content": system}] if system is not None else []
        return head + [{"role": t.role, "content": t.text} for t in turns]

    def _trace(self, has_system: bool, n: int) -> set | None:
        """Operations the template makes on the texts while turn_pieces renders each prefix."""
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template
        except ImportError:
            return None
        compiled = _compile_jinja_template(self._source)
        ops: set = set()
        system = _Traced(_HOLE.format(n), ops) if has_system else None
        turns = [Turn(("user", "assistant")[i % 2], _Traced(_HOLE.format(i), ops)) for i in range(n)]
        messages = self._messages(system, turns)
        offset = 1 if has_system else 0
        for i in range(n):
            compiled.render(messages=messages[:offset + i + 1], tools=None, documents=None,
                            add_generation_prompt=turns[i].role == "user", **self.tokenizer.special_tokens_map)
        return ops

    def _chat_template(self) -> str | None:
        try:
            source = self.tokenizer.get_chat_template()
        except Exception:
            return None
        return source if isinstance(source, str) else None

    def _scan(self, source: str | None) -> tuple[list[str], bool]:
        """(the template's string constants, whether it converts values with int/float)."""
        self._const_len = 0
        if source is None:
            return [], True
        from jinja2 import nodes
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        try:
            tree = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"]).parse(source)
        except Exception:
            return [], True
        constants = [c.value for c in tree.find_all(nodes.Const) if isinstance(c.value, str) and c.value]
        converts = any(f.name in ("int", "float") for f in tree.find_all(nodes.Filter))
        self._const_len = max(map(len, constants), default=0)
        return constants, converts


def _special_strings(tokenizer) -> list[str]:
    """The strings AutoTemplate turns into token ids in template text (its own rule, see auto.py)."""
    found = list(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    found += [t.content for t in decoder.values() if getattr(t, "special", False)]
    return [t for t in found if t]


class _Shape:
    __slots__ = ("runs", "ids", "truth", "system_windows")

    def __init__(self, runs, ids, truth, system_windows):
        self.runs, self.ids, self.truth, self.system_windows = runs, ids, truth, system_windows
