"""Record filters that need no model: `length`, `quality` and `meta` (`machine_text` has its own module).

Web-page quality rules (Gopher, C4, FineWeb) drop most good instruction records, which are short and,
in Chinese, unsegmented; these rules are about instruction data instead: an answer that is empty or
only punctuation, an answer that repeats the question, an answer that loops, an answer that is mostly
symbols, or one that is a canned AI refusal. Counting is by script-aware units (a Han character or
a Latin word) so Chinese and English are judged alike.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator

from tunesmith.data.example import Example, FieldName
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# length
# ---------------------------------------------------------------------------------------------


class LengthOptions(StepOptions):
    min_chars: int = Field(1, ge=0, description="Drop records whose chosen texts have fewer characters in total.")
    max_chars: int | None = Field(None, ge=1, description="Drop records with more characters (null = no limit).")


class LengthStep(Step):
    """Drop records outside a character-count range."""

    name = "length"
    Options = LengthOptions

    def apply(self, example: Example) -> Example | Drop:
        o = self.options
        n = sum(len(t.strip()) for t in read_texts(example, o.fields))
        if n < o.min_chars:
            return Drop("too_short", f"{n} characters < {o.min_chars}")
        if o.max_chars is not None and n > o.max_chars:
            return Drop("too_long", f"{n} characters > {o.max_chars}")
        return example


# ---------------------------------------------------------------------------------------------
# quality
# ---------------------------------------------------------------------------------------------

# Units: one Han/kana/Hangul character, or one run of Latin letters/digits.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_UNITS = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
# The same units found run by run: a run of CJK characters is split into characters with list.extend,
# which is several times cheaper than one regex match per character.
_UNIT_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_ASCII_UNITS = re.compile(r"[a-z0-9]+")  # the same units for lower-cased ASCII text, several times faster
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
# Letters, digits, spaces, and the punctuation prose uses in either language are not "special".
_SPECIAL = re.compile(r"[^\w\s.,;:!?'\"()\-\u3000-\u303f\uff01-\uff0f\uff1a-\uff1f\u2018-\u201d\u2026\u00b7]")
# The same rule for ASCII text as bytes to delete: what is left after deleting them is special.
_PLAIN_ASCII = bytes(c for c in range(128) if re.match(r"[\w\s.,;:!?'\"()\-]", chr(c)))
_NORMALISE = re.compile(r"[\W_]+")


def _is_cjk(c: str) -> bool:
    return ("\u4e00" <= c <= "\u9fff" or "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u4dbf"
            or "\uac00" <= c <= "\ud7af")


def text_units(text: str) -> list[str]:
    """The lower-cased units of `text`, in order: each CJK character, each run of other letters/digits."""
    low = text.lower()
    if low.isascii():
        return _ASCII_UNITS.findall(low)
    units: list[str] = []
    for run in _UNIT_RUNS.findall(low):
        if _is_cjk(run[0]):
            units.extend(run)
        else:
            units.append(run)
    return units


def repeat_ratio(text: str, n: int, units: list[str] | None = None) -> float:
    """Share of units that sit inside an n-gram occurring more than once (0 = no repetition)."""
    if units is None:
        units = text_units(text)
    if len(units) < 2 * n:
        return 0.0
    grams = list(zip(*(units[i:] for i in range(n))))  # C-speed n-grams
    if len(set(grams)) == len(grams):  # the common answer: no n-gram twice (a set is cheaper than a Counter)
        return 0.0
    counts = Counter(grams)
    covered = bytearray(len(units))
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i:i + n] = b"\x01" * n
    return sum(covered) / len(units)


def repeat_ratio_over(text: str, n: int, limit: float) -> float | None:
    """`repeat_ratio(text, n)` when it is above `limit`, else None, usually without building n-grams.

    A unit inside a repeated n-gram has the same value at another position (the gram's other
    occurrence), so units whose value occurs once are never covered. With `d` distinct values among
    `u` units at least `2d - u` values occur once, so at most `2(u - d)` units are covered: when that
    is within `limit`, the ratio is too. Most answers repeat few words and stop at this bound."""
    units = text_units(text)
    if len(units) < 2 * n or 2 * (len(units) - len(set(units))) <= limit * len(units):
        return None
    ratio = repeat_ratio(text, n, units)
    return ratio if ratio > limit else None


def special_ratio(text: str) -> float:
    """Share of characters outside letters, digits, spaces and common punctuation (code fences excluded)."""
    if "```" in text:
        text = _FENCED.sub("", text)
    if not text:
        return 0.0
    if text.isascii():  # bytes.translate deletes the plain characters in C; what is left is special
        return len(text.encode().translate(None, _PLAIN_ASCII)) / len(text)
    return len(_SPECIAL.findall(text)) / len(text)


def _too_few_units(text: str, least: int) -> bool:
    """Fewer than `least` units in the first 4 * least + 64 characters."""
    if least == 1:
        return _UNITS.search(text, 0, 68) is None
    return len(_UNITS.findall(text, 0, 4 * least + 64)) < least


def _could_echo(output: str, other: str) -> bool:
    """A cheap necessary condition for `output` and `other` to normalise to the same text.

    Normalising deletes characters and lower-cases character by character, so the normal form of a
    text's first k characters is a prefix of the text's normal form: two texts whose starts normalise
    to different prefixes cannot be equal. Almost every answer differs from its question within 32
    characters, so the whole answer is normalised only for the rare one that starts like it."""
    x, y = output[:1], other[:1]
    if x.isalnum() and y.isalnum() and x.lower()[0] != y.lower()[0]:  # both start with a kept character
        return False
    a = _NORMALISE.sub("", output[:32]).lower()
    b = _NORMALISE.sub("", other[:32]).lower()
    m = min(len(a), len(b))
    return a[:m] == b[:m]


def _same_words(said: str, other: str) -> bool:
    """`said` (normalised, lower-cased) equals `other` normalised the same way. Normalising only removes
    characters and lower-casing at most doubles one, so a text under half as long cannot match: that
    skips the regex for the usual short question under a long answer."""
    return 2 * len(other) >= len(said) and said == _NORMALISE.sub("", other).lower()


class QualityOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description=(
        "Texts the repetition and special-character rules read (the empty/echo rules always read the output)."))
    min_output_units: int = Field(1, ge=0, description=(
        "Drop answers with fewer units (a Han character or a Latin word/number); 0 keeps empty answers."))
    drop_echo: bool = Field(True, description="Drop answers equal to the instruction or the input (ignoring "
                                              "case, spaces and punctuation).")
    max_repeat_ratio: float = Field(0.6, gt=0, le=1, description=(
        "Drop texts where more than this share of units sit in a repeated n-gram (looping answers)."))
    repeat_ngram: int = Field(5, ge=2, description="n for the repetition rule, in units.")
    max_special_ratio: float = Field(0.35, gt=0, le=1, description=(
        "Drop texts with more than this share of symbols (code fences excluded)."))


class QualityStep(Step):
    """Drop empty, trivial, echoing, looping or symbol-heavy answers."""

    name = "quality"
    Options = QualityOptions

    def apply(self, example: Example) -> Example | Drop:
        o = self.options
        output = example.output
        if o.min_output_units and _too_few_units(output, o.min_output_units):
            return Drop("empty_output" if not output.strip() else "trivial_output", repr(output[:80]))
        if o.drop_echo and output.strip():
            said = None
            for other in (example.instruction, example.input):
                if other and _could_echo(output, other):
                    said = _NORMALISE.sub("", output).lower() if said is None else said
                    if said and _same_words(said, other):
                        return Drop("output_echoes_input", repr(output[:80]))
        n = o.repeat_ngram
        for text in read_texts(example, o.fields):
            ratio = repeat_ratio_over(text, n, o.max_repeat_ratio) if len(text) >= 2 * n else None
            if ratio is not None:
                return Drop("repetitive", f"{ratio:.2f} of units in repeated {o.repeat_ngram}-grams")
            ratio = special_ratio(text)
            if ratio > o.max_special_ratio:
                return Drop("special_characters", f"{ratio:.2f} of characters are symbols")
        return example


# ---------------------------------------------------------------------------------------------
# meta
# ---------------------------------------------------------------------------------------------

_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Mod: operator.mod, ast.USub: operator.neg, ast.Not: operator.not_}
_FUNCS = {"len": len, "abs": abs, "min": min, "max": max, "lower": str.lower, "str": str, "int": int,
          "float": float}


class _Missing(Exception):
    pass


class MetaExpression:
    """A small, safe expression over a record's metadata: `upvotes >= 3 and lang in ["zh", "en"]`.

    Names are `meta` keys; literals, comparisons, and/or/not, arithmetic and a few functions (len,
    abs, min, max, lower, str, int, float) are allowed; nothing else is evaluated.
    """

    def __init__(self, source: str) -> None:
        try:
            self.tree = ast.parse(source, mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"not a valid expression: {e.msg} at column {e.offset}") from None
        self._check(self.tree)
        self.names = {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and n.id not in _FUNCS}

    def _check(self, node) -> None:
        allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.BinOp, ast.Compare, ast.Name, ast.Load,
                   ast.Constant, ast.List, ast.Tuple, ast.Call, ast.Subscript) + tuple(_OPS)
        for child in ast.walk(node):
            if not isinstance(child, allowed):
                raise ValueError(f"'{type(child).__name__}' is not allowed in a meta expression")
            if isinstance(child, ast.Call) and not (isinstance(child.func, ast.Name) and child.func.id in _FUNCS):
                raise ValueError("only len, abs, min, max, lower, str, int, float may be called")

    def __call__(self, meta: dict):
        return self._eval(self.tree, meta)

    def _eval(self, node, meta):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in meta:
                raise _Missing(node.id)
            return meta[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e, meta) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            values = (self._eval(v, meta) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            return _OPS[type(node.op)](self._eval(node.operand, meta))
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](self._eval(node.left, meta), self._eval(node.right, meta))
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, meta)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, meta)
                if not _OPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Subscript):
            return self._eval(node.value, meta)[self._eval(node.slice, meta)]
        if isinstance(node, ast.Call):
            return _FUNCS[node.func.id](*(self._eval(a, meta) for a in node.args))
        raise ValueError(f"cannot evaluate {type(node).__name__}")


class MetaOptions(StepOptions):
    keep_if: str = Field(description="Keep records whose metadata make this expression true, e.g. `upvotes >= 3`.")
    missing: Literal["drop", "keep"] = Field("drop", description="Records that lack a key the expression uses.")

    @field_validator("keep_if")
    @classmethod
    def _parses(cls, v):
        MetaExpression(v)
        return v


class MetaStep(Step):
    """Keep records whose metadata satisfy an expression (upvotes >= 3)."""

    name = "meta"
    Options = MetaOptions

    def __init__(self, options: MetaOptions | None = None) -> None:
        if options is None:
            raise ConfigError("the meta step needs keep_if", "e.g. {step: meta, keep_if: 'upvotes >= 3'}")
        super().__init__(options)
        self.expr = MetaExpression(self.options.keep_if)

    def apply(self, example: Example) -> Example | Drop:
        try:
            ok = self.expr(example.meta)
        except _Missing as e:
            if self.options.missing == "keep":
                return example
            return Drop("meta_missing", f"no '{e.args[0]}' in the record's metadata")
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as e:
            return Drop("meta_error", f"{self.options.keep_if}: {type(e).__name__}: {e}")
        return example if ok else Drop("meta", self.options.keep_if)
