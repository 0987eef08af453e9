"""Promotion rules on real registered models: first model, better, worse, tie, best-of-families, rollback."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from sklearn.dummy import DummyClassifier
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.errors import InputError
from modeling.model_io import log_model
from modeling.registry import CHAMPION, dataset_of, promote_best, promote_if_better, set_champion
from modeling.train import register_version


@pytest.fixture(scope="module")
def registry(published_settings, dataset, make_pipeline):
    """Model "promotion-test" with v1 = constant model (alias lightgbm), v2 = KNN (alias knn), v3 = the same
    KNN again (alias svm: identical predictions, hence a tie with v2)."""
    settings = published_settings.model_copy(update={"registered_model_name": "promotion-test"})
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    models = {
        "lightgbm": make_pipeline(DummyClassifier(strategy="most_frequent")),
        "knn": make_pipeline(KNeighborsClassifier(n_neighbors=9)),
        "svm": make_pipeline(KNeighborsClassifier(n_neighbors=9)),
    }
    for family, pipeline in models.items():
        with mlflow.start_run(experiment_id=experiment_id):
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
    assert result["decision"] == "promoted" and result["reason"] == "no champion yet"
    assert result["candidate_version"] == 1 and result["champion_version"] is None
    assert result["champion_macro_f1"] is None and 0 < result["candidate_macro_f1"] < 0.35
    assert _champion(client, registry) == 1 == result["current_champion_version"]

    run = client.get_run(result["run_id"])
    assert run.info.run_name == "promotion"
    assert run.data.tags["decision"] == "promoted"
    assert run.data.tags["dataset_version"] == result["dataset_version"]
    assert run.data.metrics["candidate_macro_f1"] == result["candidate_macro_f1"]


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
    assert result["decision"] == "kept" and result["reason"] == "worse"
    assert result["candidate_macro_f1"] < result["champion_macro_f1"]
    assert _champion(client, registry) == 2 == result["current_champion_version"]
    assert client.get_run(result["run_id"]).data.metrics["champion_macro_f1"] == result["champion_macro_f1"]


def test_promote_if_better_tie_keeps_the_incumbent(registry, client):
    set_champion(registry, 2)
    result = promote_if_better(registry, "3")
    assert result["decision"] == "kept" and result["reason"] == "tie keeps the incumbent"
    assert result["candidate_macro_f1"] == result["champion_macro_f1"]
    assert _champion(client, registry) == 2


def test_promote_best_proposes_the_best_family_alias(registry, client):
    set_champion(registry, 1)
    result = promote_best(registry)
    scores = {family: entry["macro_f1"] for family, entry in result["candidates"].items()}
    assert scores["knn"] == scores["svm"] > scores["lightgbm"]
    # On a tie between families the first in FAMILIES order (knn before svm) is proposed.
    assert result["candidate_version"] == 2 and result["candidate_family"] == "knn"
    assert result["decision"] == "promoted" and _champion(client, registry) == 2


def test_set_champion_forces_a_rollback_and_records_it(registry, client):
    set_champion(registry, 2)
    result = set_champion(registry, 1)
    assert result["decision"] == "promoted" and result["forced"] is True
    assert result["champion_version"] == 2 and result["candidate_macro_f1"] < result["champion_macro_f1"]
    assert _champion(client, registry) == 1
    assert client.get_run(result["run_id"]).data.tags["forced"] == "True"


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
