"""What is loading, said while it loads: one short line per phase (tokenizer, weights, adapter, ...).

    with loading.phase("the weights", folder, "fp32 on cpu"):
        model = AutoModelForCausalLM.from_pretrained(folder)

The lines go to the `tunesmith.loading` logger at INFO. The CLI shows them on stderr, so stdout
stays the answer (`chat --prompt` prints only the reply); a library user sees them only after
enabling that logger. Each phase's duration is logged at DEBUG (`tunesmith --debug ...`).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

log = logging.getLogger("tunesmith.loading")


# The phases of the start in progress (per thread and task), for `ready`'s closing line.
_spent: ContextVar[list | None] = ContextVar("tunesmith_loading_spent", default=None)


@contextmanager
def phase(what: str, where: object = None, detail: str = "", label: str | None = None) -> Iterator[None]:
    """'loading <what> from <where> (<detail>) ...' now; its duration, under `label`, in `ready`'s line."""
    log.info("loading %s%s%s ...", what, f" from {where}" if where is not None else "", f" ({detail})" if detail else "")
    start = time.perf_counter()
    try:
        yield
    finally:
        took = time.perf_counter() - start
        log.debug("%s: %.1f s", what, took)
        spent = _spent.get()
        if spent is not None:
            spent.append((label or what.removeprefix("the "), took))


@contextmanager
def ready(name: str) -> Iterator[None]:
    """Around a whole start: one closing line with the total and each phase's share."""
    token = _spent.set([])
    start = time.perf_counter()
    try:
        yield
        parts = ", ".join(f"{label} {took:.1f} s" for label, took in _spent.get() or [])
        log.info("%s ready in %.1f s%s", name, time.perf_counter() - start, f" ({parts})" if parts else "")
    finally:
        _spent.reset(token)


def show_on_stderr(debug: bool = False) -> None:
    """What the CLI calls at start: the phase lines on stderr, without the level/name prefix of other logs."""
    import os

    if not any(isinstance(h, _Stderr) for h in log.handlers):
        log.addHandler(_Stderr())
    log.propagate = False
    quiet = os.environ.get("RANK", "0") != "0"  # under torchrun one process speaks
    log.setLevel(logging.WARNING if quiet else logging.DEBUG if debug else logging.INFO)


class _Stderr(logging.Handler):
    """Writes to the sys.stderr of the moment (a handler bound at creation misses a later redirect)."""

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        try:
            print(record.getMessage(), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)
