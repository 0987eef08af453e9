"""CPU used by a server's process tree over a measurement window, from the kernel's per-process counters
(psutil), so the load generator's own CPU is never counted."""

from __future__ import annotations

import resource
import subprocess

import psutil


def snapshot_tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by `pid` and each of its descendants, by pid."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    seconds: dict[int, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def cpu_percent_between(start: dict[int, float], end: dict[int, float], wall_seconds: float) -> float:
    """Average CPU of the tree between two snapshots, in percent of one core (200 = two cores busy).

    Processes born during the window count from zero; processes that died in it are lost (the servers under
    test keep their processes, so this does not happen in practice)."""
    if wall_seconds <= 0:
        raise ValueError("wall_seconds must be positive")
    used = sum(max(0.0, seconds - start.get(pid, 0.0)) for pid, seconds in end.items())
    return 100.0 * used / wall_seconds


def run_measuring_cpu(command: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Run a load generator to completion; return its result and the CPU seconds (user + system) it used.

    Read from this process's reaped-children counters, which grow only when a child is waited for: the servers
    under test are never reaped while a load generator runs, so the difference is the generator's alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, used
