"""Atomic file writes: a reader sees the old file or the new one, never half of one.

    with atomic_path("out/train.jsonl") as tmp:   # parent folder created; tmp is in the same folder
        write_everything_to(tmp)                  # any writer that takes a path (pyarrow, csv, open)
    atomic_write_text("report.json", text)

On success the temporary file is renamed over the target (`os.replace`, atomic on one file system);
on any exception it is removed and the old target is left as it was.

The file gets the mode a plain `open(path, "w")` would give it: an existing target keeps its mode, a
new one gets 0o666 minus the umask. (`tempfile.mkstemp` creates 0o600 files, so outputs written
through it were unreadable to the group, to a web server showing report.html, to a container user.)
The temporary file is created with `os.open(..., 0o666)` so that the kernel applies the umask; no
process-wide `os.umask` call (which races with threads) is needed. Folders from `atomic_dir` get the
same treatment for every file in them: writers such as safetensors create 0o600 files, so adapters and
checkpoints came out unreadable to anyone else while every other output was 0o644.

A process killed inside `atomic_dir` leaves its staging folder (`.NAME.tmp-XXXXXXXX`) behind; the next
`atomic_dir` for that name (or, with `stale="step-*"`, for any name of that family) removes it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _create_temp(path: Path) -> tuple[Path, int]:
    """A new empty file next to `path`; returns it and the mode the kernel gave it (umask applied)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise FileExistsError(f"cannot create a temporary file next to {path}")


def _target_mode(path: Path, new_file_mode: int) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return new_file_mode


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success give it the right mode and rename it over `path`.

    `fsync=False` skips flushing to disk before the rename: for scratch files that only need to
    survive an interrupted process (the page cache does), not a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, new_mode = _create_temp(path)
    try:
        yield tmp
        # Writers may have replaced the file (a new inode, 0o600 or 0o644): set the mode explicitly.
        os.chmod(tmp, _target_mode(path, new_mode))
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = True,
                      errors: str = "backslashreplace") -> Path:
    """Write `text` to `path` atomically (see `atomic_path`); returns the path.

    A character the encoding cannot hold (in UTF-8: a lone surrogate, half of a UTF-16 pair, which a
    JSON escape like "\\ud83d" can put into a str) is written as a \\uXXXX escape rather than failing
    the write: inside JSON text that escape is the JSON escape of the same character, so reports and
    work files read back as they were. `errors="strict"` raises instead."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "w", encoding=encoding, errors=errors, newline="") as f:
            f.write(text)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write `data` to `path` atomically (see `atomic_path`); returns the path."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return path


def _umask_modes(folder: Path) -> tuple[int, int]:
    """(file mode, folder mode) that a plain open() / mkdir() in `folder` gets: 0o666 / 0o777 less the umask."""
    probe = folder / f".mode-probe-{secrets.token_hex(4)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        file_mode = stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        probe.unlink()
    return file_mode, file_mode | ((file_mode & 0o444) >> 2)  # a folder is searchable where it is readable


def _publish_modes(folder: Path) -> None:
    file_mode, dir_mode = _umask_modes(folder)
    for where, dirs, files in os.walk(folder):
        for name in files:
            p = os.path.join(where, name)
            if not os.path.islink(p):
                os.chmod(p, file_mode)
        for name in dirs:
            p = os.path.join(where, name)
            if not os.path.islink(p):
                os.chmod(p, dir_mode)


def remove_stale_staging(parent: Path, family: str) -> list[Path]:
    """Remove leftover `.{family}.tmp-XXXXXXXX` / `.old-XXXXXXXX` folders of `atomic_dir` in `parent`
    (`family` may hold `*`: "step-*"); returns what was removed."""
    pattern = re.compile(r"\." + ".*".join(map(re.escape, family.split("*"))) + r"\.(?:tmp|old)-[0-9a-f]{8}")
    removed = []
    for p in parent.glob(f".{family}.*-*") if parent.is_dir() else ():
        if pattern.fullmatch(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextmanager
def atomic_dir(target: str | os.PathLike, *, stale: str | None = None) -> Iterator[Path]:
    """Yield a staging folder next to `target`; on success it replaces `target` by renames.

    The folder is made with `os.mkdir(..., 0o777)` so the umask applies (tempfile.mkdtemp's 0o700 would
    leave a saved model or adapter unreadable to anyone else). An old `target` is moved aside first and
    removed after, so a reader sees the old folder or the new one, never a mix. Every file in it gets the
    mode a plain open() would give it. Staging folders a killed process left for `target` (or for any
    name matching `stale`) are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent, stale or target.name)
    for _ in range(100):
        staging = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
        try:
            os.mkdir(staging, 0o777)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"cannot create a staging folder next to {target}")
    try:
        yield staging
        _publish_modes(staging)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
