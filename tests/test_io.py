"""Atomic writes: the normal file mode, and the old file intact when writing fails."""

from __future__ import annotations

import os
import stat

import pytest

from tunesmith.records import formats
from tunesmith.records.example import Example
from tunesmith.io import atomic_path, atomic_write_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", ".txt"])
def test_formats_write_gives_the_normal_mode(tmp_path, umask_022, suffix):
    to = {".csv": "csv", ".parquet": "parquet", ".txt": "conversation"}.get(suffix, "alpaca")
    out = tmp_path / "deep" / f"train{suffix}"
    assert formats.write([Example.single("hi", "hello")], out, to=to) == 1
    assert mode(out) == umask_022  # mkstemp would have left 0o600


def test_new_files_follow_the_umask_and_existing_files_keep_their_mode(tmp_path):
    old = os.umask(0o027)
    try:
        fresh = atomic_write_text(tmp_path / "a" / "fresh.txt", "x")
        assert mode(fresh) == 0o640
        private = tmp_path / "private.txt"
        private.write_text("old")
        os.chmod(private, 0o600)
        atomic_write_text(private, "new")
        assert private.read_text() == "new" and mode(private) == 0o600  # as open(path, "w") would leave it
    finally:
        os.umask(old)


def test_a_writer_that_replaces_the_temp_file_still_gets_the_normal_mode(tmp_path, umask_022):
    out = tmp_path / "out.bin"
    with atomic_path(out, fsync=False) as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # like a library writing its own new file
        os.write(fd, b"data")
        os.close(fd)
    assert out.read_bytes() == b"data" and mode(out) == umask_022


def test_failure_leaves_the_old_file_and_no_temp(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(out) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_the_temp_file_sits_next_to_the_target(tmp_path):
    out = tmp_path / "sub" / "x.txt"
    with atomic_path(out) as tmp:
        assert tmp.parent == out.parent and tmp.is_file() and not out.exists()
        tmp.write_text("ok")
    assert out.read_text() == "ok"


def test_atomic_dir_gets_the_umask_mode_and_replaces_the_old_folder(tmp_path):
    from tunesmith.io import atomic_dir

    target = tmp_path / "adapter"
    old = os.umask(0o022)
    try:
        with atomic_dir(target) as staging:
            (staging / "weights.bin").write_bytes(b"one")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # not mkdtemp's 0o700: others can read a saved model
    with atomic_dir(target) as staging:
        (staging / "weights.bin").write_bytes(b"two")
    assert (target / "weights.bin").read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no staging or old folders left


def test_atomic_dir_failure_keeps_the_old_folder(tmp_path):
    from tunesmith.io import atomic_dir

    target = tmp_path / "model"
    with atomic_dir(target) as staging:
        (staging / "a").write_text("kept")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as staging:
            (staging / "a").write_text("half")
            raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_text_utf8_cannot_hold_is_escaped_not_a_crash(tmp_path):
    import json

    path = tmp_path / "report.json"
    text = json.dumps({"detail": "half \ud83d", "ok": "完整 \U0001F600"}, ensure_ascii=False)
    atomic_write_text(path, text)
    data = path.read_bytes()
    assert b"half \\ud83d" in data and "完整 \U0001F600".encode() in data  # only the unencodable part escaped
    assert json.loads(data.decode("utf-8")) == {"detail": "half \ud83d", "ok": "完整 \U0001F600"}  # JSON: the same
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new \ud83d", errors="strict")
    assert path.read_bytes() == data and [p.name for p in tmp_path.iterdir()] == ["report.json"]
