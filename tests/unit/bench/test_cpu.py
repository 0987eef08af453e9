"""Server CPU comes from the process tree's own counters, children included."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from benchmarks.cpu import cpu_percent_between, snapshot_tree_cpu

# Waits for `go`, burns 0.5 s of CPU (not wall time: the machine is shared), writes `done`, then idles.
GRANDCHILD = """
import os, sys, time
go, done = sys.argv[1], sys.argv[2]
while not os.path.exists(go): time.sleep(0.01)
start = time.process_time()
while time.process_time() - start < 0.5: pass
open(done, "w").close()
time.sleep(60)
"""


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_snapshot_tree_cpu_counts_busy_grandchild(tmp_path):
    # The parent only waits, like MLflow's CLI above its uvicorn worker; the grandchild does the work.
    go, done = tmp_path / "go", tmp_path / "done"
    argv = [sys.executable, "-c", GRANDCHILD, str(go), str(done)]
    code = f"import subprocess; subprocess.run({argv!r})"
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for(lambda: len(snapshot_tree_cpu(parent.pid)) == 2)
        before, t0 = snapshot_tree_cpu(parent.pid), time.monotonic()
        go.touch()
        wait_for(done.exists)
        wall = time.monotonic() - t0
        used = cpu_percent_between(before, snapshot_tree_cpu(parent.pid), wall) * wall / 100
    finally:
        import psutil

        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait()
    assert 0.45 <= used < 0.5 + 0.1 * wall + 0.1  # the grandchild's burn, plus the parent's idle polling


def test_cpu_percent_between_counts_new_processes_from_zero():
    assert cpu_percent_between({1: 10.0}, {1: 10.5, 2: 0.5}, 2.0) == pytest.approx(50.0)


def test_snapshot_tree_cpu_of_missing_process_is_empty():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert snapshot_tree_cpu(process.pid) == {}
