"""Is a model name a local path or a hub id, and can the hub answer: decided before anything waits.

A name that looks like a path and does not exist is a missing path at once, with the closest
existing name as a did-you-mean (`runs/quikstart` -> `runs/quickstart`). It looks like a path when
it starts with `.`, `~` or `/`, holds a backslash, has other than exactly one `/` (a hub id is
`owner/name`), has a first part that is a folder here (`runs/...`), or ends in a file extension.
Only what is left is a hub id, and the hub is asked only after one short connection attempt
(or `HF_HUB_OFFLINE`) says it can answer: offline, huggingface_hub retries each file for ~25 s
with a warning per try; here an offline lookup reads the local cache or fails with one line.
"""

from __future__ import annotations

import difflib
import functools
import os
import socket
import time
from itertools import islice
from pathlib import Path
from urllib.parse import urlparse

from tunesmith.errors import ModelLoadError

FILE_SUFFIXES = {".gguf", ".safetensors", ".bin", ".pt", ".pth", ".json", ".jsonl", ".yaml", ".yml", ".model"}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def looks_like_path(name: str) -> bool:
    if name.startswith((".", "~", "/")) or "\\" in name or name.count("/") != 1:
        return True
    return Path(name.split("/")[0]).is_dir() or Path(name).suffix.lower() in FILE_SUFFIXES


def closest_path(name: str, extra_names: tuple[str, ...] = ()) -> str | None:
    """The existing path nearest to the missing `name`: each missing part replaced by its closest
    sibling (`rnus/quikstart` -> `runs/quickstart`); `extra_names` (embedded models) count at the top."""
    p = Path(name).expanduser()
    if not p.parts:
        return None
    at = Path(p.anchor) if p.is_absolute() else Path()
    parts = p.parts[1:] if p.is_absolute() else p.parts
    for i, part in enumerate(parts):
        if (at / part).exists():
            at = at / part
            continue
        if not at.is_dir():
            return None
        names = [c.name for c in islice(at.iterdir(), 5000) if not c.name.startswith(".")]
        if i == 0 and not p.is_absolute():
            names += list(extra_names)
        close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
        if not close:
            return None
        at = at / close[0]
    return str(at) if at.exists() or str(at) in extra_names else None


def missing_path(name: str, message: str, hint: str, extra_names: tuple[str, ...] = ()) -> ModelLoadError:
    """`message` + " (did you mean X?)"; without a close name the hint lists what the folder holds."""
    close = closest_path(name, extra_names)
    if close:
        return ModelLoadError(f"{message} (did you mean {close}?)", hint)
    parent = Path(name).expanduser().parent
    if parent != Path() and parent.is_dir():
        here = sorted(c.name for c in islice(parent.iterdir(), 200) if not c.name.startswith("."))
        if here:
            shown = ", ".join(here[:8]) + (", ..." if len(here) > 8 else "")
            hint = f"{parent} holds: {shown}; {hint}"
    return ModelLoadError(message, hint)


def hub_offline_reason() -> str | None:
    """Why the hub cannot answer, in a few words (None when it can, as far as one quick connection tells)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return None  # the client goes through the proxy; a direct connection tells nothing
    return _unreachable(constants.ENDPOINT, int(time.monotonic() // 60))


@functools.lru_cache(maxsize=4)
def _unreachable(endpoint: str, minute: int, timeout: float = 3.0) -> str | None:
    """One connection attempt per endpoint and minute (`minute` is part of the cache key): a long-lived
    process (serve, ui) notices the network coming back."""
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}: {e.strerror or type(e).__name__}"
    return None


def cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The hub id's folder in the local Hugging Face cache, if it was downloaded before."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, an invalid repo id, ...: not in the cache
        return None
