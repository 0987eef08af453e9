"""What the prediction log costs the hot path: REST single records at c=8 on two services serving the same
champion, one logging every answer (the default) and one with the log off, in alternating rounds so that the
machine's drift falls on both. Both log into a throwaway local lake under the benchmark's work folder, never
into the platform's own prediction log."""

from __future__ import annotations

import logging
import shutil
import statistics
from pathlib import Path

import pandas as pd

from benchmarks import cases
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import Measurement
from benchmarks.records import service_body, single_record_bodies
from benchmarks.servers import Server, start_service, stop_server
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)
PREDICT_PATH = "/predict?model=champion"
ROUNDS = 4  # per service, alternating: on, off, off, on, on, off, off, on


def throwaway_log_lake(workdir: Path) -> dict:
    """Settings overrides for a benchmarked service: its prediction log goes to a local folder under `workdir`
    (removed by `remove_throwaway_log_lake`), whatever lake the platform uses."""
    return {"lake_backend": "local", "lake_root": workdir / "prediction-log-lake"}


def remove_throwaway_log_lake(workdir: Path) -> None:
    shutil.rmtree(workdir / "prediction-log-lake", ignore_errors=True)


def measure_prediction_log_cost(
    settings: Settings, records: pd.DataFrame, seconds: float, warmup_s: float, workdir: Path
) -> list[Measurement]:
    """Two rows, log on and log off, each over `seconds` in all (ROUNDS runs of `seconds / ROUNDS`)."""
    bodies = write_load_files(workdir, "ours_single", single_record_bodies(records, service_body))
    servers: dict[str, Server] = {}
    try:
        for setting, enabled in ((cases.REST_SINGLE_C8_LOG_ON, True), (cases.REST_SINGLE_C8_LOG_OFF, False)):
            servers[setting] = start_service(
                settings,
                free_port(),
                free_port(),
                workdir / "logs",
                name=f"service-log-{'on' if enabled else 'off'}",
                prediction_log_enabled=enabled,
                **throwaway_log_lake(workdir),
            )
        return measure_in_alternating_rounds(servers, bodies, 8, seconds, warmup_s, ROUNDS)
    finally:
        for server in servers.values():
            stop_server(server)
        remove_throwaway_log_lake(workdir)


def measure_in_alternating_rounds(
    servers: dict[str, Server], bodies: Path, connections: int, seconds: float, warmup_s: float, rounds: int
) -> list[Measurement]:
    """One row per setting (the keys of `servers`): REST single records at `connections`, over `seconds` in
    all per setting, in `rounds` runs that alternate the settings' order (a, b, b, a, ...), so that the
    machine's drift falls on every setting; the first round of each is warmed up."""
    runs: dict[str, list[Measurement]] = {setting: [] for setting in servers}
    for round_ in range(rounds):
        order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
        for setting in order:
            server = servers[setting]
            warmup = warmup_s if round_ == 0 else 0.0
            runs[setting].append(
                measure_http(
                    setting,
                    cases.OURS,
                    server.pid,
                    server.url + PREDICT_PATH,
                    bodies,
                    connections,
                    seconds / rounds,
                    warmup,
                    1,
                )  # fmt: skip
            )
    return [combine_runs(measured) for measured in runs.values()]


def combine_runs(runs: list[Measurement]) -> Measurement:
    """One row from several runs of a setting: requests and seconds add up; latencies and CPU are the mean
    of the runs' figures."""
    first = runs[0]
    cpu = [r.cpu_percent for r in runs if r.cpu_percent is not None]
    return Measurement(
        setting=first.setting,
        server=first.server,
        requests=sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        p50_ms=statistics.fmean(r.p50_ms for r in runs),
        p99_ms=statistics.fmean(r.p99_ms for r in runs),
        mean_ms=statistics.fmean(r.mean_ms for r in runs),
        errors=sum(r.errors for r in runs),
        cpu_percent=statistics.fmean(cpu) if cpu else None,
        rows_per_request=first.rows_per_request,
        concurrency=first.concurrency,
    )
