"""What the benchmark ran on, recorded with every result: figures only mean something with their machine."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import psutil


def describe_machine() -> dict:
    """CPU model, core counts, memory, OS, Python, and the load average (others' work on a shared machine)."""
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
