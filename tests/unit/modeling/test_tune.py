"""Tuning: budget, resumable studies, nested MLflow runs per trial, pruning and the SVM row cap."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import optuna
import pytest

from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.dataset import load_dataset
from modeling.families import FAMILIES
from modeling.tune import cross_validate, select_tuning_rows, study_name, tune_family


@pytest.fixture(scope="module")
def train_split(published_settings):
    dataset = load_dataset(published_settings)
    return dataset.X_train, dataset.y_train


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)))


def test_tune_family_logs_each_trial_as_nested_run_and_resumes_the_study(published_settings, train_split):
    settings = published_settings
    experiment_id = ensure_experiment(settings, "tune-test")
    with mlflow.start_run(experiment_id=experiment_id) as parent:
        study = tune_family(FAMILIES["knn"], *train_split, settings, "resume-v1", trials=2)
    assert study.study_name == study_name("knn", "resume-v1") == "burnout-knn-resume-v1"
    assert _finished(study) == 2
    # The first trial of a new study is the family's starting point.
    assert study.trials[0].params == FAMILIES["knn"].starting_params
    assert study.best_trial.user_attrs["params"] == study.best_trial.params
    # Each trial keeps its per-fold scores; Optuna's value is their mean.
    for trial in study.trials:
        assert len(trial.user_attrs["fold_scores"]) == settings.cv_folds
        assert trial.value == pytest.approx(np.mean(trial.user_attrs["fold_scores"]))

    configure_mlflow(settings)
    children = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert len(children) == 2
    assert all(0 < run.data.metrics["cv_macro_f1"] <= 1 for run in children)
    assert all(run.data.metrics["cv_macro_f1_std"] >= 0 for run in children)
    assert sorted(run.data.tags["mlflow.note.content"].split(":")[0] for run in children) == [
        "Optuna trial 0 of knn on dataset `resume-v1`",
        "Optuna trial 1 of knn on dataset `resume-v1`",
    ]
    assert all(" folds of " in run.data.tags["mlflow.note.content"] for run in children)
    assert {run.data.params["n_neighbors"] for run in children} == {
        str(t.params["n_neighbors"]) for t in study.trials
    }

    # Same budget again: the stored study already holds it, nothing reruns; a larger budget adds the rest.
    assert _finished(tune_family(FAMILIES["knn"], *train_split, settings, "resume-v1", trials=2)) == 2
    assert _finished(tune_family(FAMILIES["knn"], *train_split, settings, "resume-v1", trials=3)) == 3


def test_tune_family_stops_at_timeout(published_settings, train_split):
    started = time.monotonic()
    study = tune_family(
        FAMILIES["knn"], *train_split, published_settings, "timeout-v1", trials=10_000, timeout=1
    )
    assert 1 <= _finished(study) < 10_000
    assert time.monotonic() - started < 30


class _AlwaysPrune:
    """A stand-in trial whose pruner always says stop, recording the reported steps."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def report(self, value: float, step: int) -> None:
        assert 0 < value <= 1
        self.steps.append(step)

    def should_prune(self) -> bool:
        return True


def test_cross_validate_prunes_prunable_family_after_first_fold(train_split):
    X, y = np.asarray(train_split[0], dtype=float), np.asarray(train_split[1])
    folds = [
        (np.arange(0, len(y), 2), np.arange(1, len(y), 2)),
        (np.arange(1, len(y), 2), np.arange(0, len(y), 2)),
    ]
    trial = _AlwaysPrune()
    with pytest.raises(optuna.TrialPruned):
        cross_validate(FAMILIES["lightgbm"], FAMILIES["lightgbm"].starting_params, X, y, folds, 0, trial)
    assert trial.steps == [0]
    # KNN trials are too cheap to prune: the same pruner is never consulted.
    score = cross_validate(FAMILIES["knn"], FAMILIES["knn"].starting_params, X, y, folds, 0, _AlwaysPrune())
    assert 0 < score <= 1


def test_select_tuning_rows_caps_svm_with_class_proportions():
    y = np.array(["Low"] * 3000 + ["Medium"] * 5000 + ["High"] * 2000)
    rows = select_tuning_rows(FAMILIES["svm"], y, seed=1)
    assert len(rows) == FAMILIES["svm"].max_tuning_rows == 8000
    assert len(set(rows)) == len(rows)
    kept = dict(zip(*np.unique(y[rows], return_counts=True), strict=True))
    assert kept == {"Low": 2400, "Medium": 4000, "High": 1600}
    np.testing.assert_array_equal(rows, select_tuning_rows(FAMILIES["svm"], y, seed=1))
    assert len(select_tuning_rows(FAMILIES["lightgbm"], y, seed=1)) == len(y)
