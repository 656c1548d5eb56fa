"""Ends the machine causes, not the user: a half-written checkpoint folder from a killed run is removed at
the next save; files `atomic_dir` publishes (adapters, checkpoints' safetensors) are 0644 like every other
output; a full disk or a killed worker is a message that says what happened and that rerunning resumes."""

from __future__ import annotations

import errno
import os
import stat
from concurrent.futures.process import BrokenProcessPool

import pytest

from tunesmith import cli
from tunesmith.io import atomic_dir


def test_a_killed_saves_staging_folder_is_removed_at_the_next_save(tmp_path):
    left = tmp_path / ".step-5.tmp-0123abcd"
    left.mkdir()
    (left / "trainable.safetensors").write_bytes(b"half")
    (tmp_path / ".step-5.old-89abcdef").mkdir()
    keep = [tmp_path / "step-3", tmp_path / ".adapter.tmp-deadbeef", tmp_path / ".step-notes"]
    for p in keep:
        p.mkdir()
    with atomic_dir(tmp_path / "step-10", stale="step-*") as staging:
        (staging / "state.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["step-10"] + [p.name for p in keep])


def test_a_folder_of_the_same_name_is_cleaned_without_a_family(tmp_path):
    (tmp_path / ".adapter.tmp-0123abcd").mkdir()
    with atomic_dir(tmp_path / "adapter") as staging:
        (staging / "adapter_config.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_published_files_get_the_umask_mode_whatever_their_writer_made(tmp_path):
    from safetensors.torch import save_file
    import torch

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "adapter") as staging:
            save_file({"w": torch.zeros(2)}, staging / "adapter_model.safetensors")
            os.close(os.open(staging / "private.bin", os.O_CREAT | os.O_WRONLY, 0o600))
            (staging / "sub").mkdir(mode=0o700)
            os.close(os.open(staging / "sub" / "x", os.O_CREAT | os.O_WRONLY, 0o600))
    finally:
        os.umask(old)
    for name in ("adapter_model.safetensors", "private.bin", "sub/x"):
        assert stat.S_IMODE((tmp_path / "adapter" / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((tmp_path / "adapter" / "sub").stat().st_mode) == 0o755


@pytest.mark.parametrize("error,says", [
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoints/step-4/optimizer.pt"), "the disk is full"),
    (BrokenProcessPool("A process in the process pool was terminated abruptly"), "a worker process died"),
])
def test_disk_full_and_killed_workers_are_a_message_not_a_traceback(monkeypatch, capsys, error, says):
    def fail(args):
        raise error

    monkeypatch.setattr(cli, "build_parser", _parser_running(fail))
    assert cli.main(["x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {says}") and "rerun the same command" in err and "Traceback" not in err


def test_other_errors_still_raise(monkeypatch):
    def fail(args):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cli, "build_parser", _parser_running(fail))
    with pytest.raises(OSError):
        cli.main(["x"])


def _parser_running(func):
    import argparse

    def build():
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.set_defaults(func=func)
        return parser
    return build
