"""One error type for everything a user can fix: a message naming the file, key or option, and a hint.

The CLI prints these as one line (plus the hint) and exits with status 2; any other exception is a
bug in tunesmith and is shown with its traceback under `--debug`.
"""

from __future__ import annotations


class TunesmithError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"

    def __reduce__(self):  # raised in a worker process, it comes back whole (hint included)
        return type(self), (self.message, self.hint)


class ConfigError(TunesmithError):
    """A config file, key, value or override is wrong."""


class ModelLoadError(TunesmithError):
    """A model or tokenizer cannot be found or loaded as asked."""


class DataError(TunesmithError):
    """A data file or record cannot be read as asked."""
