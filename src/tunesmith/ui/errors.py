"""Errors as the front end shows them: a message and a hint, next to the field they are about.

Library calls raise `TunesmithError` without knowing which form field fed them; the routes wrap each
call in `blame("field")` so the message lands next to that field. Anything else is a bug: app.py
answers it with a 500 that still carries a readable message, and the server keeps running.
"""

from __future__ import annotations

from contextlib import contextmanager

from tunesmith.errors import TunesmithError


class FieldError(TunesmithError):
    """A user-fixable error tied to one form field (dotted, e.g. `train.lr`, or a plain name like `path`)."""

    def __init__(self, field: str | None, message: str, hint: str | None = None, status: int = 400):
        super().__init__(message, hint)
        self.field = field
        self.status = status


@contextmanager
def blame(field: str):
    """Re-raise any TunesmithError from the block as a FieldError on `field` (keeps one already tied)."""
    try:
        yield
    except FieldError:
        raise
    except TunesmithError as e:
        raise FieldError(field, e.message, e.hint) from None


def payload(e: TunesmithError) -> dict:
    return {"error": e.message, "hint": e.hint, "field": getattr(e, "field", None)}
