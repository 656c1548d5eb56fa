"""Where tunesmith keeps things on disk: `$TUNESMITH_HOME`, default `~/.cache/tunesmith`."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    root = os.environ.get("TUNESMITH_HOME")
    if root:
        return Path(root).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tunesmith"


def models_dir() -> Path:
    return home() / "models"
