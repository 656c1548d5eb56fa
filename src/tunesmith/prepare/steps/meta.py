"""`meta`: keep records whose metadata satisfy an expression (`upvotes >= 3 and lang in ["zh", "en"]`).

The expression is small and safe: names are the record's extra fields (`meta` keys); literals,
comparisons, and/or/not, arithmetic, subscripts and a few functions (len, abs, min, max, lower, str,
int, float) are allowed; nothing else is evaluated.

A field that is absent or `null` is missing: `missing: drop` drops the record (`meta_missing`),
`missing: keep` keeps it. A field of the wrong type (`upvotes >= 3` where upvotes is the text "5",
`lang in ["zh", "en"]` where lang is a list) is not a reason to drop records one by one: it means the
expression does not fit the data, so the run stops at the first such record with its file:line and
what to change (a ConfigError, which the runner lets through).
"""

from __future__ import annotations

import ast
import operator
from typing import Literal

from pydantic import Field, field_validator

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions
from tunesmith.prepare.steps.registry import register
from tunesmith.errors import ConfigError

_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Mod: operator.mod, ast.USub: operator.neg, ast.Not: operator.not_}
_SYMBOLS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
            ast.NotIn: "not in"}
_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_FUNCS = {"len": len, "abs": abs, "min": min, "max": max, "lower": str.lower, "str": str, "int": int,
          "float": float}


class _Missing(Exception):
    pass


class TypeMismatch(Exception):
    """A field's value does not fit the expression (text compared with a number, a list used as text)."""


def kind(value) -> str:
    """The kind of a metadata value, as a user names it: number, text, true/false, list, mapping."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class MetaExpression:
    """A small, safe expression over a record's metadata (see the module docstring)."""

    def __init__(self, source: str) -> None:
        try:
            self.tree = ast.parse(source, mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"not a valid expression: {e.msg} at column {e.offset}") from None
        self._check(self.tree)
        self.source = source
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
            value = meta.get(node.id)
            if value is None:  # absent, or null in the data: both are missing
                raise _Missing(node.id)
            return value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e, meta) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            values = (self._eval(v, meta) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            return self._apply(node, _OPS[type(node.op)], self._eval(node.operand, meta))
        if isinstance(node, ast.BinOp):
            return self._apply(node, _OPS[type(node.op)], self._eval(node.left, meta), self._eval(node.right, meta))
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, meta)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, meta)
                _check_kinds(node, op, left, right)
                if not _OPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Subscript):
            container, key = self._eval(node.value, meta), self._eval(node.slice, meta)
            try:
                value = container[key]
            except (KeyError, IndexError):
                raise _Missing(ast.unparse(node)) from None
            except TypeError as e:
                raise TypeMismatch(f"{ast.unparse(node.value)} is {kind(container)} ({container!r:.60}), "
                                   f"which cannot be indexed by {key!r}: {e}") from None
            if value is None:
                raise _Missing(ast.unparse(node))
            return value
        if isinstance(node, ast.Call):
            return self._apply(node, _FUNCS[node.func.id], *(self._eval(a, meta) for a in node.args))
        raise ValueError(f"cannot evaluate {type(node).__name__}")

    @staticmethod
    def _apply(node, fn, *args):
        try:
            return fn(*args)
        except (TypeError, ValueError) as e:
            shown = ", ".join(f"{kind(a)} {a!r:.60}" for a in args)
            raise TypeMismatch(f"{ast.unparse(node)} cannot be computed from {shown}: {e}") from None


def _check_kinds(node, op, left, right) -> None:
    """Refuse a comparison whose sides are of kinds that never compare as the user means: `"5" == 5` is
    silently false and `"5" >= 3` raises, in Python; both are a field holding text where a number was
    expected."""
    a, b = kind(left), kind(right)
    if isinstance(op, (ast.In, ast.NotIn)):
        if b == "text" and a == "text" or b == "mapping":
            return
        if b == "list":
            kinds = {kind(x) for x in right}
            if not kinds or a in kinds:
                return
            expected = " or ".join(sorted(kinds))
        else:
            expected = "an item of a list or text"
    elif isinstance(op, _ORDER):
        if a == b and a in ("number", "text"):
            return
        expected = "a number or text on both sides"
    elif a == b:
        return
    else:
        expected = f"{b} on both sides"
    raise TypeMismatch(f"'{ast.unparse(node)}' compares {a} ({left!r:.60}) {_SYMBOLS[type(op)]} {b} ({right!r:.60}); "
                       f"expected {expected}")


class MetaOptions(StepOptions):
    keep_if: str = Field(description="Keep records whose metadata make this expression true, e.g. `upvotes >= 3`.")
    missing: Literal["drop", "keep"] = Field("drop", description=(
        "Records that lack a field the expression uses, or hold null in it."))

    @field_validator("keep_if")
    @classmethod
    def _parses(cls, v):
        MetaExpression(v)
        return v


@register
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
        except TypeMismatch as e:
            raise ConfigError(f"{_where(example)}: meta keep_if '{self.options.keep_if}': {e}",
                              "convert the field in the expression (e.g. int(upvotes) >= 3, len(tags) > 0), "
                              "fix the field in the data, or choose another field") from None
        except ZeroDivisionError as e:
            return Drop("meta_error", f"{self.options.keep_if}: {e}")
        return example if ok else Drop("meta", self.options.keep_if)


def _where(example: Example) -> str:
    m = example.meta
    if m.get("source") and m.get("line"):
        return f"{m['source']}:{m['line']}"
    return f"record {m['id']}" if m.get("id") else "a record"
