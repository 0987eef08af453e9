"""What more workers buy: REST single records at c=16 on two services serving the same champion, one with a
single worker and one with a worker per CPU this machine lets us use (BURNOUT_API_WORKERS), in alternating
rounds so that the machine's drift falls on both. Both log into a throwaway lake."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from benchmarks.load import write_load_files
from benchmarks.measurement import Measurement
from benchmarks.prediction_log_cost import (
    measure_in_alternating_rounds,
    remove_throwaway_log_lake,
    throwaway_log_lake,
)
from benchmarks.records import service_body, single_record_bodies
from benchmarks.servers import Server, start_service, stop_server
from burnout_base.cpus import available_cpus
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)
CONCURRENCY = 16
ROUNDS = 4  # per service, alternating


def scaling_setting(workers: int) -> str:
    """The row's name, as benchmarks.cases.WORKER_SCALING_SETTING reads it."""
    return f"REST 1 record, c={CONCURRENCY}, {workers} worker{'s' if workers > 1 else ''}"


def measure_worker_scaling(
    settings: Settings, records: pd.DataFrame, seconds: float, warmup_s: float, workdir: Path
) -> list[Measurement]:
    """One row per worker count (1, and the CPUs available when more), each over `seconds` in all."""
    counts = sorted({1, available_cpus()})
    if counts == [1]:
        log.warning("one CPU available: worker scaling measured with 1 worker only")
    bodies = write_load_files(workdir, "ours_single", single_record_bodies(records, service_body))
    servers: dict[str, Server] = {}
    try:
        for workers in counts:
            servers[scaling_setting(workers)] = start_service(
                settings,
                free_port(),
                free_port(),
                workdir / "logs",
                name=f"service-{workers}-workers",
                api_workers=workers,
                **throwaway_log_lake(workdir),
            )
        return measure_in_alternating_rounds(servers, bodies, CONCURRENCY, seconds, warmup_s, ROUNDS)
    finally:
        for server in servers.values():
            stop_server(server)
        remove_throwaway_log_lake(workdir)
