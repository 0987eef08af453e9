"""The tuning-spread section of the bench report: one row per worker count, the speed-up, or why it was not
measured (the measurement itself runs in `make bench`: minutes of tuning)."""

from __future__ import annotations

from benchmarks.report import render_markdown
from benchmarks.tuning_spread import describe_tuning_spread, format_table

FIGURES = {
    "data": "real",
    "family": "lightgbm",
    "trials": 20,
    "cv_folds": 5,
    "speedup": 1.62,
    "rows": [
        {
            "workers": 1,
            "wall_s": 120.4,
            "trials_finished": 20,
            "best_cv_macro_f1": 0.8312,
            "trials_by_worker": {"0": 20},
            "mean_trial_s": 5.1,
            "load_average_before": 1.5,
            "load_average_after": 2.0,
        },
        {
            "workers": 2,
            "wall_s": 74.3,
            "trials_finished": 21,
            "best_cv_macro_f1": 0.8309,
            "trials_by_worker": {"0": 11, "1": 10},
            "mean_trial_s": None,
        },
    ],
}


def test_describe_tuning_spread_gives_one_row_per_worker_count():
    lines = describe_tuning_spread(FIGURES)
    assert "K=1 over K=2 wall time 1.62x" in lines[1]
    assert "| 1 | 120.4 | 20 | 0.8312 | 5.10 | #0: 20 | 1.50 / 2.00 |" in lines
    assert "| 2 | 74.3 | 21 | 0.8309 | n/a | #0: 11, #1: 10 | n/a / n/a |" in lines
    assert format_table(FIGURES).splitlines()[2].split()[:4] == ["2", "74.3", "21", "0.8309"]


def test_describe_tuning_spread_says_why_it_was_skipped():
    skipped = {"data": "real", "family": "lightgbm", "skipped": "no Postgres at postgresql://x"}
    assert describe_tuning_spread(skipped)[-1] == (
        "Tuning spread over workers: not measured (no Postgres at postgresql://x)."
    )


def test_report_includes_the_tuning_spread_when_measured():
    result = {
        "finished_at": "2026-12-04T22:00:00Z",
        "model_version": 1,
        "seconds_per_setting": 1.0,
        "rows": [],
        "targets": [],
        "tuning_spread": FIGURES,
        "machine": {
            "cpu": "x",
            "logical_cores": 2,
            "memory_gb": 8,
            "os": "linux",
            "python": "3.12",
            "load_average_1m": 0.5,
        },
    }
    assert "| 2 | 74.3 | 21 | 0.8309 |" in render_markdown(result)
    assert "| 2 | 74.3 |" not in render_markdown({**result, "tuning_spread": None})
