"""The prediction log's cost rows (issue 13): alternating runs make one row per setting, and the target
reports the server's CPU per request beside the throughput ratio."""

from __future__ import annotations

import pytest

from benchmarks.cases import OURS, REST_SINGLE_C8_LOG_OFF, REST_SINGLE_C8_LOG_ON, evaluate_targets
from benchmarks.measurement import Measurement
from benchmarks.prediction_log_cost import combine_runs


def run(requests: int, seconds: float, p50: float, cpu: float) -> Measurement:
    return Measurement(REST_SINGLE_C8_LOG_ON, OURS, requests, seconds, p50, p50 * 4, p50, cpu_percent=cpu)


def test_runs_of_a_setting_add_up_to_one_row():
    row = combine_runs([run(10_000, 5.0, 2.0, 80.0), run(14_000, 5.0, 3.0, 100.0)])
    assert (row.requests, row.seconds, row.rps) == (24_000, 10.0, 2_400.0)
    assert (row.p50_ms, row.cpu_percent) == (2.5, 90.0)


def test_the_target_compares_throughput_and_cpu_per_request():
    on = {"setting": REST_SINGLE_C8_LOG_ON, "server": OURS, "rps": 2_850.0, "errors": 0, "cpu_percent": 99.0}
    off = {
        "setting": REST_SINGLE_C8_LOG_OFF,
        "server": OURS,
        "rps": 3_000.0,
        "errors": 0,
        "cpu_percent": 100.0,
    }
    target = next(t for t in evaluate_targets([on, off], None) if t["target"].startswith("prediction log"))
    assert target["measured"] == pytest.approx(0.95) and target["met"] is True
    assert target["note"] == "server CPU per request: 1.042x the log off's"
