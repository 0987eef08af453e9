"""The pipeline benchmark runs in its own embedded home at the configured budget and reads run_pipeline's
summary."""

from __future__ import annotations

import pytest

from benchmarks.data import resolve_dataset
from benchmarks.pipeline_bench import describe_budget, isolated_settings, summarize_pipeline
from burnout_base.settings import Settings

SUMMARY = {
    "dataset_version": "abc",
    "champion": {"family": "lightgbm", "version": 1, "test_metrics": {"macro_f1": 0.91}},
    "families": {
        "lightgbm": {
            "model_version": 1,
            "cv_macro_f1": 0.9,
            "test_metrics": {"macro_f1": 0.91},
            "seconds": 100.0,
        },
        "svm": {
            "model_version": 2,
            "cv_macro_f1": 0.88,
            "test_metrics": {"macro_f1": 0.89},
            "seconds": 200.0,
        },
    },
    "etl": {"rows_in": 22750, "rows_kept": 21000},
    "seconds": {"etl": 20.5, "train_lightgbm": 101.0, "train_svm": 201.0, "promote": 3.0, "total": 325.5},
}


def test_summarize_pipeline_reads_times_and_scores():
    figures = summarize_pipeline(SUMMARY)
    assert figures["etl_s"] == 20.5 and figures["rows"] == 22750
    assert [(f["family"], f["seconds"], f["test_macro_f1"]) for f in figures["families"]] == [
        ("lightgbm", 101.0, 0.91),
        ("svm", 201.0, 0.89),
    ]
    assert (figures["champion_family"], figures["champion_test_macro_f1"]) == ("lightgbm", 0.91)


def test_isolated_settings_ignore_callers_locations(make_settings, tmp_path, monkeypatch):
    caller = make_settings(mlflow_tracking_uri="http://mlflow.example:5001", tuning_trials=7)
    monkeypatch.setenv("BURNOUT_MLFLOW_TRACKING_URI", "http://mlflow.example:5001")
    monkeypatch.setenv("BURNOUT_OPTUNA_STORAGE", "postgresql://db/optuna")
    isolated = isolated_settings(caller, tmp_path / "pipe")
    assert isolated.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'pipe' / 'mlflow.db'}"
    assert isolated.lake_backend == "local" and isolated.lake_root == tmp_path / "pipe" / "lake"
    assert isolated.optuna_storage == f"sqlite:///{tmp_path / 'pipe' / 'optuna.db'}"
    assert isolated.tuning_trials == 7 and isolated.cv_folds == caller.cv_folds
    assert isolated.api_url != caller.api_url


def test_describe_budget_knows_the_default(tmp_path):
    default = Settings(_env_file=None, home=tmp_path)
    text, is_default = describe_budget(default)
    assert is_default and text.startswith(f"{default.tuning_trials} trials, {default.cv_folds}-fold CV")
    untimed = Settings(_env_file=None, home=tmp_path, tuning_trials=2, cv_folds=2, tuning_timeout_s=None)
    assert describe_budget(untimed) == ("2 trials, 2-fold CV", False)
    small = Settings(_env_file=None, home=tmp_path, tuning_trials=2, cv_folds=2, tuning_timeout_s=60)
    assert describe_budget(small) == ("2 trials, 2-fold CV, 60 s per family", False)


def test_resolve_dataset_labels_a_given_csv_and_refuses_a_missing_one(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("a\n1\n")
    assert resolve_dataset(tmp_path, 1, csv) == (csv, "custom")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        resolve_dataset(tmp_path, 1, tmp_path / "nope.csv")


def test_resolve_dataset_finds_the_real_one(real_dataset, tmp_path):
    assert resolve_dataset(tmp_path, 1) == (real_dataset, "real")
    assert resolve_dataset(tmp_path, 1, real_dataset)[1] == "real"
