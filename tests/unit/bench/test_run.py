"""`make bench`'s assembly (benchmarks/run.py): every section's rows reach one table with its ratios and the
issues' targets, the cost curves and the report are written, and a bench that cannot measure refuses to start.
The sections are stand-ins here: each has its own tests, and the servers they start are exercised for real
by the sections' tests and test_curves.py; this one used to run the whole bench on real servers for 157 s."""

from __future__ import annotations

import json

import pytest

from benchmarks import cases, run
from benchmarks.curves import BATCH_SIZES, LATENCY_BY_BATCH, MLSERVER_POINT_S, REST, point_seconds
from benchmarks.measurement import Measurement
from etl.errors import InputError
from etl.synthetic import generate_synthetic

WORKERS = 2


def measured(setting: str, server: str, requests: int, seconds: float = 1.0) -> Measurement:
    return Measurement(setting, server, requests, seconds, p50_ms=2.0, p99_ms=5.0, mean_ms=2.5)


def curve_points() -> list[dict]:
    return [
        {"curve": LATENCY_BY_BATCH, "series": "REST /predict", "protocol": REST, "x": size}
        | measured(f"REST /predict, {size} records", cases.OURS, 100).to_dict()
        | {"rows_per_request": size}
        for size in BATCH_SIZES
    ]


@pytest.fixture
def sections(monkeypatch):
    """Every section of run_bench replaced by a stand-in that records what it was given."""
    calls: dict[str, tuple] = {}

    def stand_in(name, value):
        def section(*args, **kwargs):
            calls[name] = args
            return value

        monkeypatch.setattr(run, name, section)

    monkeypatch.setattr(run, "find_wrk", lambda: "/usr/bin/wrk")
    monkeypatch.setattr(run, "find_h2load", lambda: "/usr/bin/h2load")
    stand_in("ensure_champion", {"version": 3, "family": "lightgbm", "dataset_version": "d1"})
    stand_in("load_sample_records", (generate_synthetic(rows=max(BATCH_SIZES), seed=1), "synthetic"))
    stand_in("_load_pipeline", "the champion's pipeline")
    serving = [
        measured(cases.REST_SINGLE_C8, cases.OURS, 3000),
        measured(cases.REST_SINGLE_C8, cases.MLFLOW, 100),
        measured(cases.CEILING_REST_C8, cases.CEILING, 6000),
    ]
    stand_in("measure_servers", (serving, {"ours_max_abs_proba_error": 0.0}, curve_points()))
    stand_in("measure_prediction_log_cost", [measured(cases.REST_SINGLE_C8_LOG_ON, cases.OURS, 2900)])
    stand_in("measure_balancer_cost", [measured(cases.REST_SINGLE_C8_BALANCED, cases.OURS, 2800)])
    stand_in("measure_shadow_cost", {"skipped": "no alias to shadow"})
    stand_in("measure_in_process", [measured(cases.INPROC_1000, cases.FAST_PATH, 200)])
    stand_in("measure_explanation_latency", [])
    stand_in(
        "measure_worker_scaling",
        [
            measured("REST 1 record, c=16, 1 worker", cases.OURS, 1000),
            measured(f"REST 1 record, c=16, {WORKERS} workers", cases.OURS, 1700),
        ],
    )
    monkeypatch.setattr(run, "service_workers", lambda settings: WORKERS)
    return calls


def test_run_bench_puts_every_section_in_one_report(settings, sections):
    result = run.run_bench(settings, seconds=20.0, pipeline=False, etl=False)

    rows = {(r["setting"], r["server"]): r for r in result["rows"]}
    assert set(rows) == {
        (cases.REST_SINGLE_C8, cases.OURS),
        (cases.REST_SINGLE_C8, cases.MLFLOW),
        (cases.CEILING_REST_C8, cases.CEILING),
        (cases.REST_SINGLE_C8_LOG_ON, cases.OURS),
        (cases.REST_SINGLE_C8_BALANCED, cases.OURS),
        (cases.INPROC_1000, cases.FAST_PATH),
        ("REST 1 record, c=16, 1 worker", cases.OURS),
        (f"REST 1 record, c=16, {WORKERS} workers", cases.OURS),
    }
    assert rows[(cases.REST_SINGLE_C8, cases.OURS)]["ratio_vs_mlflow"] == pytest.approx(30.0)
    # The batch sweep reaches 10,000 records: the sections get that many, the servers the champion's version.
    assert len(sections["measure_servers"][2]) == max(BATCH_SIZES)
    assert sections["measure_servers"][1] == 3 and sections["measure_servers"][3] == 20.0
    assert sections["measure_in_process"][3] == settings.compiled_cache_dir  # compiled once, not every run
    targets = {t["target"]: t for t in result["targets"]}
    per_worker = targets["REST 1 record c=8 per worker: throughput vs the fixed-response ceiling"]
    assert per_worker["measured"] == pytest.approx(3000 / 6000 / WORKERS)
    scaling = targets["API workers: REST 1 record c=16 throughput, workers = CPUs vs 1 worker"]
    assert (scaling["measured"], scaling["met"]) == (pytest.approx(1.7), True)
    assert targets["in process 1,000 rows: compiled trees vs LightGBM (throughput)"]["met"] is None
    assert result["api_workers"] == WORKERS
    assert result["curves"] == {
        "point_seconds": point_seconds(20.0),
        "mlserver_point_seconds": MLSERVER_POINT_S,
        "points": curve_points(),
    }
    assert result["pipeline"] is None and result["etl_memory"] is None


def test_run_bench_writes_the_report_and_the_curves(settings, sections):
    result = run.run_bench(settings, seconds=20.0, pipeline=False, etl=False)

    bench = settings.home / "bench"
    assert json.loads((bench / "latest.json").read_text())["model_version"] == 3
    assert f"| {cases.REST_SINGLE_C8} | {cases.OURS} |" in (bench / "latest.md").read_text()
    assert json.loads((bench / "curves.json").read_text())["points"] == curve_points()
    for name in ("latency-per-record.png", "throughput-by-concurrency.png"):
        assert (bench / name).read_bytes()[:4] == b"\x89PNG"
    assert "page" not in result["files"]  # a partial run leaves docs/benchmarks.md alone


def test_run_bench_refuses_a_run_it_cannot_measure(settings, sections, monkeypatch):
    with pytest.raises(InputError, match="seconds must be positive"):
        run.run_bench(settings, seconds=0)
    monkeypatch.setattr(run, "find_h2load", lambda: None)
    with pytest.raises(FileNotFoundError, match="make system-deps"):
        run.run_bench(settings, seconds=1)
    assert "ensure_champion" not in sections  # refused before any work
