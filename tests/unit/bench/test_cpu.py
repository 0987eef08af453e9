"""Server CPU comes from the process tree's own counters, children included."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from burnout.bench.cpu import cpu_percent_between, snapshot_tree_cpu

BUSY_CHILD = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"


def test_snapshot_tree_cpu_counts_busy_grandchild():
    # The parent only sleeps; a grandchild spins, like MLflow's CLI waiting on its uvicorn worker.
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY_CHILD!r}])"
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.4)
        before, t0 = snapshot_tree_cpu(parent.pid), time.monotonic()
        time.sleep(0.6)
        percent = cpu_percent_between(before, snapshot_tree_cpu(parent.pid), time.monotonic() - t0)
    finally:
        parent.wait(timeout=10)
    assert len(before) == 2
    assert percent > 40  # one spinning core on a shared machine still gets a good share of 100 %


def test_cpu_percent_between_counts_new_processes_from_zero():
    assert cpu_percent_between({1: 10.0}, {1: 10.5, 2: 0.5}, 2.0) == pytest.approx(50.0)


def test_snapshot_tree_cpu_of_missing_process_is_empty():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert snapshot_tree_cpu(process.pid) == {}
