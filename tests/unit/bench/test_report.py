"""The one table in text, markdown, JSON and PNG."""

from __future__ import annotations

import json

from benchmarks.cases import (
    MLFLOW,
    MLSERVER,
    OURS,
    REST_SINGLE_C8,
    V2_GRPC_SINGLE_C8,
    add_ratios,
    evaluate_targets,
)
from benchmarks.curves import GRPC, IN_PROCESS, LATENCY_BY_BATCH, MODEL_ALONE, REST, THROUGHPUT_BY_CONCURRENCY
from benchmarks.report import NOTES_MARKER, format_table, render_markdown, render_page, save_report

MACHINE = {
    "cpu": "Test CPU",
    "logical_cores": 2,
    "physical_cores": 1,
    "memory_gb": 8.0,
    "os": "Linux",
    "python": "3.11.0",
    "load_average_1m": 1.5,
}


PIPELINE = {
    "data": "real",
    "rows": 22750,
    "budget": "30 trials, 5-fold CV",
    "default_budget": True,
    "etl_s": 12.5,
    "end_to_end_s": 480.0,
    "champion_family": "lightgbm",
    "champion_test_macro_f1": 0.91234,
    "families": [
        {"family": "lightgbm", "seconds": 120.0, "test_macro_f1": 0.91234},
        {"family": "svm", "seconds": 300.0, "test_macro_f1": 0.9},
    ],
}


def make_result(errors=0, pipeline=None):
    rows = add_ratios(
        [
            {
                "setting": REST_SINGLE_C8,
                "server": OURS,
                "rps": 1234.5,
                "p50_ms": 5.25,
                "p99_ms": 12.0,
                "errors": errors,
                "cpu_percent": 99.0,
                "client_cpu_percent": 31.0,
                "load_generator": "wrk",
            },
            {
                "setting": REST_SINGLE_C8,
                "server": MLFLOW,
                "rps": 71.0,
                "p50_ms": 110.0,
                "p99_ms": 160.0,
                "errors": 0,
                "cpu_percent": 100.0,
            },
        ]
    )
    return {
        "finished_at": "2026-01-02T03:04:05",
        "model_version": 3,
        "family": "lightgbm",
        "seconds_per_setting": 20.0,
        "rows": rows,
        "targets": evaluate_targets(rows, pipeline),
        "pipeline": pipeline,
        "machine": MACHINE,
        "load_average_after": 1.9,
        "records": {"source": "test split", "missing_share_single": 0.1, "missing_share_batch": 0.125},
    }


def test_format_table_shows_ratio_and_aligns():
    lines = format_table(make_result()["rows"]).splitlines()
    assert lines[0].split()[:2] == ["setting", "server"]
    assert "17.4x" in lines[1] and "1,234" in lines[1]
    assert len({len(line) for line in lines}) == 1


def test_format_table_shows_ratio_vs_mlserver_and_load_generator_cpu():
    rows = add_ratios(
        [
            {**make_result()["rows"][0], "setting": V2_GRPC_SINGLE_C8, "load_generator": "h2load"},
            {**make_result()["rows"][1], "setting": V2_GRPC_SINGLE_C8, "server": MLSERVER},
        ]
    )
    line = format_table(rows).splitlines()[1]
    assert line.split()[-2:] == ["-", "17.4x"]  # no MLflow baseline for V2; MLServer's
    assert "31 (h2load)" in line


def test_format_table_flags_errors():
    assert "(4 errors!)" in format_table(make_result(errors=4)["rows"])


def test_render_markdown_has_table_targets_and_machine():
    text = render_markdown(make_result())
    assert f"| {REST_SINGLE_C8} | {OURS} | 1,234 | 5.25 | 12 | 99 | 31 (wrk) | 17.4x | - |" in text
    assert "| REST 1 record c=8: throughput vs MLflow | >= 10x | 17.4 | yes |" in text
    assert "10% of the single records and 12% of the batch have a missing value" in text
    assert "Test CPU, 2 logical cores" in text and "load average 1.5 before and 1.9 after" in text


def test_render_markdown_names_the_worker_processes_of_both_servers():
    assert "; our service with 2 worker process(es), MLServer with as many inference workers." in (
        render_markdown({**make_result(), "api_workers": 2})
    )
    assert "after a warm-up.\n" in render_markdown(make_result())  # older results say nothing of workers


def test_render_markdown_includes_pipeline_times():
    text = render_markdown(make_result(pipeline=PIPELINE))
    assert "ETL 12.5 s, end to end 480 s" in text
    assert "| svm | 300 | 0.9 |" in text
    assert "| pipeline end to end (s) | < 600 s | 480 | yes |" in text


def full_result():
    """What `make bench` measures: the serving rows, the pipeline and the ETL's memory."""
    return {**make_result(pipeline=PIPELINE), "etl_memory": {"runs": []}}


def test_render_page_says_how_to_reproduce_then_the_machine_then_the_table():
    page = render_page(full_result())
    assert page.startswith("# Benchmarks\n")
    marks = ("`make bench`", "Test CPU, 2 logical cores", "| setting |")
    how, machine, table = (page.index(mark) for mark in marks)
    assert how < machine < table
    assert page.count("Test CPU") == 1  # the machine once, before the tables
    assert page.rstrip().endswith(NOTES_MARKER)


def test_save_report_writes_the_page_after_a_full_run_and_keeps_its_notes(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nan old run\n\n{NOTES_MARKER}\n## Why\n\nwritten by hand\n")

    paths = save_report(full_result(), tmp_path / "bench", page=page)

    text = page.read_text()
    assert paths["page"] == str(page)
    assert "an old run" not in text and "Measured 2026-01-02T03:04:05" in text
    assert text.endswith(f"{NOTES_MARKER}\n## Why\n\nwritten by hand\n")


def test_save_report_leaves_the_page_alone_after_a_partial_run(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("the last full run\n")

    paths = save_report(make_result(), tmp_path / "bench", page=page)

    assert page.read_text() == "the last full run\n"
    assert "page" not in paths


def curve_points():
    """Two series of each curve, as benchmarks/curves.py measures them (one point with errors)."""
    points = []
    for series, protocol, scale in (("REST /predict", REST, 1.0), (MODEL_ALONE, IN_PROCESS, 0.1)):
        for size in (1, 10, 100):
            point = {"rps": 100.0 / size, "p50_ms": scale * (1 + size / 10), "errors": 0, "requests": 50}
            points.append(
                {"curve": LATENCY_BY_BATCH, "series": series, "protocol": protocol, "x": size, **point}
            )
    for series, protocol, rps in (("REST /predict, ours", REST, 2000.0), ("V2 gRPC, MLServer", GRPC, 90.0)):
        for concurrency in (1, 2, 4):
            point = {"rps": rps * concurrency**0.5, "p50_ms": 1.0, "errors": 0, "requests": 100}
            points.append(
                {"curve": THROUGHPUT_BY_CONCURRENCY, "series": series, "protocol": protocol, "x": concurrency}
                | point
            )
    points[-1]["errors"] = 3
    return points


def with_curves(result):
    return {
        **result,
        "curves": {"point_seconds": 2.0, "mlserver_point_seconds": 1.0, "points": curve_points()},
    }


def test_save_report_writes_json_markdown_and_the_curves(tmp_path):
    result = with_curves(make_result())
    paths = save_report(
        result, tmp_path / "bench", page=tmp_path / "benchmarks.md", curves_folder=tmp_path / "c"
    )
    assert json.loads((tmp_path / "bench" / "latest.json").read_text())["rows"][0]["rps"] == 1234.5
    assert (tmp_path / "bench" / "bench-20260102T030405.json").exists()
    assert (tmp_path / "bench" / "latest.md").read_text() == render_markdown(result)
    assert set(paths) == {"json", "history", "markdown", "curves", "latency_plot", "throughput_plot"}
    for name in ("latency-per-record.png", "throughput-by-concurrency.png"):
        assert (tmp_path / "bench" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "bench" / "curves.json").read_text())
    assert (saved["model_version"], saved["point_seconds"]) == (3, 2.0)
    assert saved["points"] == result["curves"]["points"]
    assert not (tmp_path / "c").exists()  # a partial run leaves docs/benchmarks/ as it was


def test_save_report_publishes_the_curves_beside_the_page_after_a_full_run(tmp_path):
    page, published = tmp_path / "benchmarks.md", tmp_path / "benchmarks"

    save_report(with_curves(full_result()), tmp_path / "bench", page=page, curves_folder=published)

    assert {p.name for p in published.iterdir()} == {
        "curves.json",
        "latency-per-record.png",
        "throughput-by-concurrency.png",
    }
    text = page.read_text()
    assert "![latency per record against batch size](benchmarks/latency-per-record.png)" in text
    assert "2 s per point (1 s for MLServer" in text and "20 s for each row" in text
    assert text.index("## Cost curves") < text.index("## The last run")


def test_save_report_without_curves_writes_no_plot(tmp_path):
    paths = save_report(make_result(), tmp_path / "bench", page=tmp_path / "benchmarks.md")
    assert set(paths) == {"json", "history", "markdown"}
    assert not list((tmp_path / "bench").glob("*.png"))
