"""The data steps by the name a pipeline config uses: `{step: clean, ...}` -> `STEPS["clean"]`.

A leaf module: each step module registers its class with `@register`, and `prepare.steps` imports
every step module once, so the registry is full whenever the package is imported.
"""

from __future__ import annotations

STEPS: dict[str, type] = {}


def register(cls: type) -> type:
    """Add a step class under its `name` (a class decorator)."""
    if cls.name in STEPS and STEPS[cls.name] is not cls:
        raise ValueError(f"two data steps are named '{cls.name}': {STEPS[cls.name].__qualname__} and {cls.__qualname__}")
    STEPS[cls.name] = cls
    return cls


def build(options, map=None):
    """The step object for validated options (see `tunesmith.prepare.config.step_options`); `map` is the
    engine's way to run a whole-set step's batches (see `SetStep`)."""
    cls = STEPS[options.step]
    return cls(options) if map is None else cls(options, map=map)
