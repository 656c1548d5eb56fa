"""`data prepare`'s worker processes end when their parent dies, even by SIGKILL (which leaves the pool no
chance to stop them): before, each lived on forever holding its memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = r"""
import sys, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from tunesmith.prepare.local_engine import lean_gc_worker

def pid_after(seconds):
    import os
    time.sleep(seconds)
    return os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(sys.argv[1]), initializer=lean_gc_worker)
    for f in [pool.submit(pid_after, 0.2) for _ in range(4)]:
        f.result()
    print(" ".join(str(p._pid if hasattr(p, "_pid") else p.pid) for p in pool._processes.values()), flush=True)
    pool.submit(pid_after, 600)  # a worker busy for ten minutes when the parent is killed
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_exit_when_the_parent_is_killed(tmp_path, method):
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        time.sleep(0.3)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "workers outlived their parent"
    finally:
        parent.kill()
        for p in workers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
