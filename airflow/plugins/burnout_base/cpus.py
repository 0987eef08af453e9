"""How many CPUs this process may use: the smaller of its CPU affinity and its cgroup's CPU quota.

`os.cpu_count()` counts the host's CPUs; a container limited to `cpus: 1.5` on a 16-core host may use 1.5 of
them, and a process pinned with `taskset` only its own set. Worker counts and thread pools are sized
from this.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process may use, at least 1: affinity, capped by the cgroup quota rounded up (a
    quota of 1.5 CPUs keeps two processes busy part of the time, better than one idle half)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in CPUs (quota / period) of cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us`), None
    when there is none ("max", -1) or no cgroup file can be read."""
    try:
        quota, _, period = (cgroup_root / "cpu.max").read_text().strip().partition(" ")
        if quota == "max":
            return None
        return int(quota) / int(period or 100_000)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
