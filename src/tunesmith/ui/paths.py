"""Paths a request names stay inside the UI's root.

Every path typed in the page (a data file, a tokenizer or model folder, a run's output_dir, a run to
stop or resume) goes through `confine`: relative to root, resolved with every symlink followed, and
refused unless what it names is root or below it. `../`, absolute paths, `~`, a symlink pointing out
and `%2F` (decoded to `/` before the route sees it, then resolved like any other) all end outside and
are refused with a FieldError on the field that named them. `~` is not expanded: the page has no
home folder of its own to name.

`name_or_path` is for fields that take a path or a name (an embedded model, a hub id): a name is
passed on as it is only when nothing of that name exists under root and it does not read as a path
(`runs/quikstart` reads as one when root holds `runs/`: opening it then says "no such run folder").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tunesmith.ui.errors import FieldError

# A hub id (`org/name`) or an embedded model's name: no dots-only parts, no leading slash or tilde.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def confine(root: Path, path: str, field: str) -> Path:
    """`path` (relative to root) resolved, symlinks included; a FieldError on `field` if it lies outside."""
    text = (path or "").strip()
    if not text:
        raise FieldError(field, "give a path")
    if "\x00" in text:
        raise FieldError(field, "a path cannot hold a NUL character")
    root = root.resolve()
    p = Path(text)
    resolved = Path(os.path.realpath(root / p))  # an absolute p replaces root here and is judged the same
    if not resolved.is_relative_to(root):
        raise FieldError(field, f"{text} is outside the ui root {root}",
                         "the ui reads and writes only under its --root: give a path relative to it")
    return resolved


def inside(root: Path, path: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root.resolve())


def name_or_path(root: Path, spec: str, field: str) -> str:
    """A local path under root (resolved) if one of that name exists, else the name itself when it reads
    as a name (embedded model, hub id); anything else that reads as a path must lie under root."""
    text = spec.strip()
    local = root / text
    under_a_folder = "/" in text and (root / text.split("/")[0]).is_dir()  # runs/quikstart: a path, mistyped
    if local.exists() or local.is_symlink() or not _NAME.match(text) or ".." in Path(text).parts or under_a_folder:
        return str(confine(root, text, field))
    return text
