"""Promotion rules on real registered models: first model, better, worse, tie, best-of-families and the
ensemble, rollback; and the evidence each decision records (intervals, paired difference, CV)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.errors import InputError
from modeling.model_io import log_model
from modeling.registry import CHAMPION, ENSEMBLE, dataset_of, promote_best, promote_if_better, set_champion
from modeling.train import register_version


@pytest.fixture(scope="module")
def registry(published_settings, dataset, make_pipeline):
    """Model "promotion-test" with v1 = constant model (alias lightgbm), v2 = KNN (alias knn, its run logs CV
    figures), v3 = the same KNN again (alias svm: identical predictions, hence a tie with v2), v4 = logistic
    regression (alias ensemble: the best of all on this data)."""
    settings = published_settings.model_copy(update={"registered_model_name": "promotion-test"})
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    models = {
        "lightgbm": make_pipeline(DummyClassifier(strategy="most_frequent")),
        "knn": make_pipeline(KNeighborsClassifier(n_neighbors=9)),
        "svm": make_pipeline(KNeighborsClassifier(n_neighbors=9)),
        ENSEMBLE: make_pipeline(LogisticRegression(max_iter=1000)),
    }
    for family, pipeline in models.items():
        with mlflow.start_run(experiment_id=experiment_id):
            if family == "knn":
                mlflow.log_metrics({"cv_macro_f1": 0.71, "cv_macro_f1_std": 0.03})
            info = log_model(pipeline, dataset.train_raw.head(2), settings.registered_model_name)
        tags = {"family": family, "dataset_version": dataset.version, "git_commit": "test"}
        register_version(settings, int(info.registered_model_version), tags)
    return settings


@pytest.fixture
def client(registry):
    """A clean slate: no champion at the start of each test."""
    configure_mlflow(registry)
    client = mlflow.MlflowClient()
    with contextlib.suppress(MlflowException):  # no champion yet
        client.delete_registered_model_alias(registry.registered_model_name, CHAMPION)
    return client


def _champion(client, settings) -> int:
    return int(client.get_model_version_by_alias(settings.registered_model_name, CHAMPION).version)


def test_promote_if_better_first_model_becomes_champion_and_is_recorded(registry, client):
    result = promote_if_better(registry, "lightgbm")
    assert result["decision"] == "promoted" and result["reason"].startswith("no champion yet: candidate 0.")
    assert result["candidate_version"] == 1 and result["champion_version"] is None
    assert result["champion_macro_f1"] is None and 0 < result["candidate_macro_f1"] < 0.35
    assert _champion(client, registry) == 1 == result["current_champion_version"]

    run = client.get_run(result["run_id"])
    assert run.info.run_name == "promotion"
    assert run.data.tags["decision"] == "promoted"
    assert run.data.tags["dataset_version"] == result["dataset_version"]
    assert run.data.metrics["candidate_macro_f1"] == result["candidate_macro_f1"]
    assert run.data.tags["mlflow.note.content"].startswith(
        f"Promotion of `promotion-test` v1 against no champion on dataset `{result['dataset_version']}`: "
        "**promoted**. Why: no champion yet: candidate 0."
    )


def test_promote_if_better_moves_champion_to_a_better_candidate(registry, client):
    set_champion(registry, 1)
    result = promote_if_better(registry, "knn")
    assert result["decision"] == "promoted"
    assert result["candidate_macro_f1"] > result["champion_macro_f1"]
    assert result["champion_version"] == 1 and result["candidate_version"] == 2
    assert _champion(client, registry) == 2


def test_promote_if_better_keeps_champion_against_a_worse_candidate(registry, client):
    set_champion(registry, 2)
    result = promote_if_better(registry, 1)
    assert result["decision"] == "kept" and result["reason"].startswith("worse: ")
    assert result["candidate_macro_f1"] < result["champion_macro_f1"]
    assert _champion(client, registry) == 2 == result["current_champion_version"]
    assert client.get_run(result["run_id"]).data.metrics["champion_macro_f1"] == result["champion_macro_f1"]


def test_promote_if_better_tie_keeps_the_incumbent(registry, client):
    set_champion(registry, 2)
    result = promote_if_better(registry, "3")
    assert result["decision"] == "kept" and result["reason"].startswith("tie keeps the incumbent: ")
    assert result["candidate_macro_f1"] == result["champion_macro_f1"]
    # Identical predictions: the paired difference is exactly 0 on every resample.
    assert result["macro_f1_difference"] == 0 and result["macro_f1_difference_ci"] == [0.0, 0.0]
    assert result["within_noise"] is True and "within the noise of one test split" in result["reason"]
    assert _champion(client, registry) == 2


def test_promote_best_proposes_the_best_of_family_and_ensemble_aliases(registry, client):
    set_champion(registry, 1)
    result = promote_best(registry)
    scores = {family: entry["macro_f1"] for family, entry in result["candidates"].items()}
    assert scores[ENSEMBLE] > scores["knn"] == scores["svm"] > scores["lightgbm"]
    assert result["candidate_version"] == 4 and result["candidate_family"] == ENSEMBLE
    assert result["decision"] == "promoted" and _champion(client, registry) == 4
    low, high = result["candidates"]["knn"]["macro_f1_ci"]
    assert low < scores["knn"] < high

    # Without the ensemble alias: on a tie between families the first in FAMILIES order (knn before svm).
    client.delete_registered_model_alias(registry.registered_model_name, ENSEMBLE)
    try:
        set_champion(registry, 1)
        result = promote_best(registry)
    finally:
        client.set_registered_model_alias(registry.registered_model_name, ENSEMBLE, "4")
    assert ENSEMBLE not in result["candidates"]
    assert result["candidate_version"] == 2 and result["candidate_family"] == "knn"
    assert result["decision"] == "promoted" and _champion(client, registry) == 2


def test_promotion_states_and_records_intervals_difference_and_cv(registry, client):
    set_champion(registry, 1)
    result = promote_if_better(registry, "knn")
    candidate, champion = result["candidate_macro_f1"], result["champion_macro_f1"]
    c_low, c_high = result["candidate_macro_f1_ci"]
    i_low, i_high = result["champion_macro_f1_ci"]
    d_low, d_high = result["macro_f1_difference_ci"]
    assert c_low < candidate < c_high and i_low <= champion <= i_high
    assert result["macro_f1_difference"] == pytest.approx(candidate - champion)
    assert d_low < result["macro_f1_difference"] < d_high
    # CV figures come from each version's training run; the constant model's run logged none.
    assert result["candidate_cv_macro_f1"] == 0.71 and result["candidate_cv_macro_f1_std"] == 0.03
    assert result["champion_cv_macro_f1"] is None and result["champion_cv_macro_f1_std"] is None
    assert result["reason"] == (
        f"candidate beats the champion: {candidate:.4f} [{c_low:.3f}, {c_high:.3f}] vs {champion:.4f} "
        f"[{i_low:.3f}, {i_high:.3f}]; difference {candidate - champion:+.4f} [{d_low:.3f}, {d_high:.3f}], "
        f"{'within' if d_low <= 0 <= d_high else 'beyond'} the noise of one test split"
    )

    run = client.get_run(result["run_id"])
    metrics = run.data.metrics
    assert (metrics["candidate_macro_f1_ci_low"], metrics["candidate_macro_f1_ci_high"]) == (c_low, c_high)
    assert (metrics["champion_macro_f1_ci_low"], metrics["champion_macro_f1_ci_high"]) == (i_low, i_high)
    assert (metrics["macro_f1_difference_ci_low"], metrics["macro_f1_difference_ci_high"]) == (d_low, d_high)
    assert metrics["candidate_cv_macro_f1_std"] == 0.03 and "champion_cv_macro_f1" not in metrics
    assert run.data.tags["within_noise"] == str(result["within_noise"])
    recorded = mlflow.artifacts.load_dict(f"runs:/{result['run_id']}/promotion.json")
    assert recorded["macro_f1_difference_ci"] == [d_low, d_high]


def test_set_champion_forces_a_rollback_and_records_it(registry, client):
    set_champion(registry, 2)
    result = set_champion(registry, 1)
    assert result["decision"] == "promoted" and result["forced"] is True
    assert result["champion_version"] == 2 and result["candidate_macro_f1"] < result["champion_macro_f1"]
    assert _champion(client, registry) == 1
    tags = client.get_run(result["run_id"]).data.tags
    assert tags["forced"] == "True"
    assert "v1 against champion v2" in tags["mlflow.note.content"]
    assert "**promoted** (forced). Why: forced by operator" in tags["mlflow.note.content"]


def test_promotion_of_unknown_candidates_is_a_clear_input_error(registry, client):
    with pytest.raises(InputError, match="no version or alias 'xgboost'"):
        promote_if_better(registry, "xgboost")
    with pytest.raises(InputError, match="no version or alias '99'"):
        set_champion(registry, 99)
    empty = registry.model_copy(update={"registered_model_name": "never-trained"})
    with pytest.raises(InputError, match="run `burnout train` first"):
        promote_best(empty)


def test_promotion_judges_a_candidate_on_its_own_dataset_version(registry, client, dataset):
    trained_on = client.get_model_version(registry.registered_model_name, "2").tags["dataset_version"]

    result = promote_if_better(registry, "knn")

    assert result["dataset_version"] == trained_on == dataset.version
    # Not the latest published version: a candidate of a version that is gone cannot be judged.
    gone = SimpleNamespace(version="9", tags={"dataset_version": "0" * 16})
    with pytest.raises(InputError, match="is not published"):
        dataset_of(registry, gone)
