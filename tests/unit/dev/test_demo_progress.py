"""The demo's progress as a user reads it in a log or a CI job (no terminal): one line per step result and per
tuning trial, fed by the library's own log records, with an estimate of the time left; and the live table."""

from __future__ import annotations

import io
import logging

import pytest

from burnout_dev.demo_display import PlainReporter, render_table
from burnout_dev.demo_progress import PipelineProgress, ProgressListener

TUNING = "tuning %s on %d rows, %d folds: %d trial(s) to run, timeout %s s"
TRIAL = "Trial 0 finished with value: 0.81 and parameters: {'a': 1}. Best is trial 0 with value: 0.81."
TRAINED = "trained %s v%d: cv macro-F1 %s, test macro-F1 %.4f [%.4f, %.4f]"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def emit(listener: ProgressListener, clock: FakeClock, at: float, logger: str, message: str, *args) -> None:
    clock.now = at
    listener.handle(logging.LogRecord(logger, logging.INFO, __file__, 1, message, args, None))


@pytest.fixture
def fed():
    """A progress fed with a fresh run's records (one family tuned with two trials), its plain output."""
    out, clock = io.StringIO(), FakeClock()
    progress = PipelineProgress(
        ("lightgbm", "knn"), trial_budget=2, on_change=PlainReporter(out), clock=clock
    )
    listener = ProgressListener(progress)
    progress.start("ingest")
    emit(listener, clock, 2, "etl.ingest", "uploaded %s to %s", "a.csv", "file:///lake/raw/a.csv")
    emit(listener, clock, 3, "etl.validate", "quarantined %d of %d rows: %s", 5, 1000, {})
    emit(listener, clock, 4, "etl.clean", "cleaning kept %d of %d rows; dropped %s", 950, 995, {})
    emit(
        listener,
        clock,
        4,
        "etl.split",
        "split %d rows into %d train and %d test (seed %d)",
        950,
        760,
        190,
        42,
    )
    emit(listener, clock, 6, "etl.run_etl", "ETL published %s in %.1fs", "abc", 4.0)
    emit(listener, clock, 10, "modeling.tune", TUNING, "lightgbm", 760, 5, 2, None)
    emit(listener, clock, 20, "optuna.study.study", TRIAL)
    return progress, listener, clock, out


def test_plain_output_has_one_line_per_result_and_trial(fed):
    progress, listener, clock, out = fed
    emit(listener, clock, 30, "optuna.study.study", "Trial 1 pruned. ")
    emit(listener, clock, 35, "modeling.train", TRAINED, "lightgbm", 1, "0.8100", 0.83, 0.81, 0.85)

    lines = out.getvalue().splitlines()

    assert lines[0].startswith("[    2s] ingest raw data") and "done" in lines[0]
    assert "ETL" in lines[1] and "950 of 995 rows kept, 5 quarantined; 760 train / 190 test" in lines[1]
    assert "tune lightgbm" in lines[2] and "started (2 trials)" in lines[2]
    assert "1/2 trials, best CV macro-F1 0.810" in lines[3] and "left" in lines[3]
    assert "2/2 trials" in lines[4]
    assert "done: v1, CV 0.8100, test macro-F1 0.8300 [0.8100, 0.8500] (25s)" in lines[5]
    assert len(lines) == 6 and not any("warning" in line.lower() for line in lines)


def test_time_left_counts_the_families_not_started_yet(fed):
    progress, *_ = fed
    # 10 s a trial so far; left: 1 lightgbm trial + 2 knn trials, and 3 models to fit (2 families, ensemble).
    assert progress.seconds_left() == pytest.approx(10 * (3 + 3))


def test_ensemble_starts_when_every_family_is_done_then_promotion(fed):
    progress, listener, clock, out = fed
    emit(listener, clock, 40, "modeling.train", TRAINED, "lightgbm", 1, "0.8100", 0.83, 0.81, 0.85)
    emit(
        listener,
        clock,
        41,
        "modeling.train",
        "%s: version %s already trained on dataset %s; reusing it",
        "knn",
        2,
        "abc",
    )
    assert progress.steps["knn"].status == "reused" and progress.steps["ensemble"].status == "running"

    emit(listener, clock, 50, "modeling.ensemble", "ensemble v%s of %s is reused", 3, "lightgbm v1, knn v2")

    assert progress.steps["promote"].status == "running"
    *_, ensemble_started, ensemble_done, promotion_started = out.getvalue().splitlines()
    assert "ensemble" in ensemble_started and ensemble_started.endswith("started")
    assert "ensemble" in ensemble_done and "reused: v3 reused (9s)" in ensemble_done
    assert "promotion" in promotion_started and promotion_started.endswith("started")


def test_unrelated_records_change_nothing(fed):
    progress, listener, clock, out = fed
    before = out.getvalue()
    emit(
        listener,
        clock,
        40,
        "airflow.task",
        "tuning %s on %d rows, %d folds: %d trial(s) to run",
        "x",
        1,
        2,
        3,
    )
    emit(listener, clock, 40, "modeling.tune", "something else")
    assert out.getvalue() == before


def test_live_table_shows_every_step_and_the_time_left(fed):
    from rich.console import Console

    progress, *_ = fed
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render_table(progress))
    text = console.file.getvalue()

    for label in ("Airflow metadata DB", "ingest raw data", "ETL", "tune lightgbm", "tune knn", "ensemble",
                  "promotion"):  # fmt: skip
        assert label in text
    assert "1/2 trials, best CV macro-F1 0.810" in text and "left" in text


def test_time_left_uses_the_fitting_time_measured_after_the_last_trial(fed):
    progress, listener, clock, _ = fed
    emit(listener, clock, 30, "optuna.study.study", TRIAL)
    emit(listener, clock, 35, "modeling.train", TRAINED, "lightgbm", 1, "0.8100", 0.83, 0.81, 0.85)
    # 10 s a trial, 5 s of fitting after the last one: knn's 2 trials, then knn and the ensemble to fit.
    assert progress.seconds_left() == pytest.approx(10 * 2 + 5 * 2)


def test_demo_output_goes_to_the_log_file_and_only_progress_to_the_terminal(tmp_path, capfd):
    import os
    import subprocess
    import sys

    from burnout_dev.demo_display import output_to_log

    path = tmp_path / "logs" / "demo.log"
    with output_to_log(path) as (terminal, _):
        os.write(1, b"airflow task log\n")
        os.write(2, b"FutureWarning: skops\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child output\\n')"], check=True)
        terminal.write("progress line\n")
    os.write(1, b"after\n")

    captured = capfd.readouterr()
    assert captured.out == "progress line\nafter\n" and captured.err == ""
    assert path.read_text().splitlines() == ["airflow task log", "FutureWarning: skops", "child output"]
