"""The cost curves' plots draw each series in order of x, without the points whose runs had errors."""

from __future__ import annotations

from benchmarks.curves import LATENCY_BY_BATCH, REST, THROUGHPUT_BY_CONCURRENCY
from benchmarks.plots import microseconds_per_record, plot_latency_per_record, series_points


def point(curve, series, x, errors=0, requests=10, p50_ms=1.0):
    return {
        "curve": curve,
        "series": series,
        "protocol": REST,
        "x": x,
        "errors": errors,
        "requests": requests,
        "p50_ms": p50_ms,
        "rps": 100.0,
    }


def test_series_points_groups_sorts_and_leaves_out_failed_runs():
    points = [
        point(THROUGHPUT_BY_CONCURRENCY, "ours", 4),
        point(THROUGHPUT_BY_CONCURRENCY, "ours", 1),
        point(THROUGHPUT_BY_CONCURRENCY, "mlserver", 1),
        point(THROUGHPUT_BY_CONCURRENCY, "mlserver", 4, errors=2),
        point(THROUGHPUT_BY_CONCURRENCY, "mlserver", 8, requests=0),
        point(LATENCY_BY_BATCH, "ours", 10),
    ]
    grouped = series_points(points, THROUGHPUT_BY_CONCURRENCY)
    assert list(grouped) == ["ours", "mlserver"]
    assert [p["x"] for p in grouped["ours"]] == [1, 4]
    assert [p["x"] for p in grouped["mlserver"]] == [1]


def test_latency_is_plotted_per_record_in_microseconds(tmp_path):
    points = [point(LATENCY_BY_BATCH, "REST", size, p50_ms=0.5 + size / 100) for size in (1, 10, 100)]
    assert [microseconds_per_record(p) for p in points] == [510.0, 60.0, 15.0]

    path = plot_latency_per_record(points, tmp_path / "latency.png", "a test run")

    assert path.read_bytes()[:4] == b"\x89PNG"
