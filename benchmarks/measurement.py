"""One measured setting on one server: throughput, latency percentiles, errors and server CPU."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass
class Measurement:
    """Closed-loop results of one setting (e.g. "REST single c=8") on one server ("ours", "mlflow")."""

    setting: str
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int = 0
    cpu_percent: float | None = None
    rows_per_request: int = 1
    concurrency: int = 1
    client_cpu_percent: float | None = None  # the load generator's CPU, on the same cores as the server's
    load_generator: str | None = None  # "wrk", "h2load", "Python grpc.aio"; None for in-process rows

    @property
    def rps(self) -> float:
        """Completed requests (or calls, or stream messages) per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "rps": self.rps, "rows_per_s": self.rps * self.rows_per_request}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, nearest-rank (what wrk reports too)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_latencies(
    setting: str, server: str, latencies_s: list[float], seconds: float, **extra
) -> Measurement:
    """A Measurement from per-call latencies in seconds measured over `seconds` of wall time."""
    values = sorted(latencies_s)
    mean = sum(values) / len(values) if values else math.nan
    return Measurement(
        setting=setting,
        server=server,
        requests=len(values),
        seconds=seconds,
        p50_ms=percentile(values, 50) * 1e3,
        p99_ms=percentile(values, 99) * 1e3,
        mean_ms=mean * 1e3,
        **extra,
    )
