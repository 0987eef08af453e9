"""Detached processes with pid files: stopping a whole tree, stale pid files, early exits."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from burnout_dev.processes import (
    find_marked,
    is_alive,
    read_running,
    start_detached,
    stop_tree,
    wait_until_answers,
)

# A parent that starts a grandchild in a session of its own (as Airflow's task supervisor does), then waits.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def wait_for_file(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise TimeoutError(path)


def test_stop_tree_stops_descendants_in_their_own_sessions(tmp_path):
    child_file = tmp_path / "child.pid"
    managed = start_detached(
        "parent",
        [sys.executable, "-c", PARENT, str(child_file)],
        dict(os.environ),
        tmp_path / "run",
        cwd=tmp_path,
    )
    child = psutil.Process(int(wait_for_file(child_file)))
    assert child.pid in {p.pid for p in psutil.Process(managed.pid).children(recursive=True)}

    assert stop_tree(tmp_path / "run", "parent", timeout=10) == managed.pid

    assert not psutil.pid_exists(managed.pid)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "run" / "parent.pid").exists()


def test_read_running_removes_stale_pid_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # Our own pid with another start time: a recycled pid must not be taken for the service.
    (run / "api.pid").write_text(json.dumps({"pid": os.getpid(), "create_time": 1.0}))

    assert read_running(run, "api") is None
    assert not (run / "api.pid").exists()
    assert stop_tree(run, "api") is None


def test_wait_until_answers_reports_early_exit_with_log(tmp_path):
    managed = start_detached(
        "broken",
        [sys.executable, "-c", "import sys; sys.exit('bad config: port')"],
        dict(os.environ),
        tmp_path / "run",
        cwd=tmp_path,
    )
    with pytest.raises(RuntimeError, match="bad config: port"):
        wait_until_answers(
            "http://127.0.0.1:9/health", "broken", lambda: is_alive(managed), managed.log, timeout=30
        )
    stop_tree(tmp_path / "run", "broken")


def test_find_marked_finds_processes_by_environment(tmp_path):
    marker = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "BURNOUT_TEST_MARKER": marker}
    managed = start_detached(
        "marked", [sys.executable, "-c", "import time; time.sleep(600)"], env, tmp_path / "run", cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 10
        while not (found := find_marked("BURNOUT_TEST_MARKER", marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p.pid for p in found] == [managed.pid]
    finally:
        stop_tree(tmp_path / "run", "marked")
    assert find_marked("BURNOUT_TEST_MARKER", marker) == []
