"""Alias `challenger` on real registered models: promote_best hands it to the best candidate that did not
become champion (and records it), operators set or clear it, and one version never holds both aliases."""

from __future__ import annotations

import contextlib

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.errors import InputError
from modeling.challenger import clear_challenger, pick_challenger, set_challenger
from modeling.model_io import log_model
from modeling.registry import promote_best, set_champion
from modeling.registry_names import CHALLENGER, CHAMPION, ENSEMBLE
from modeling.train import register_version


@pytest.fixture(scope="module")
def registry(published_settings, dataset, make_pipeline):
    """Model "challenger-test": v1 = constant model (alias lightgbm), v2 = KNN (alias knn), v3 = logistic
    regression (alias ensemble); on this data v3 > v2 > v1."""
    settings = published_settings.model_copy(update={"registered_model_name": "challenger-test"})
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    models = {
        "lightgbm": make_pipeline(DummyClassifier(strategy="most_frequent")),
        "knn": make_pipeline(KNeighborsClassifier(n_neighbors=9)),
        ENSEMBLE: make_pipeline(LogisticRegression(max_iter=1000)),
    }
    for family, pipeline in models.items():
        with mlflow.start_run(experiment_id=experiment_id):
            info = log_model(pipeline, dataset.train_raw.head(2), settings.registered_model_name)
        tags = {"family": family, "dataset_version": dataset.version, "git_commit": "test"}
        register_version(settings, int(info.registered_model_version), tags)
    return settings


@pytest.fixture
def client(registry):
    """A clean slate: no champion, no challenger, every family alias in place."""
    configure_mlflow(registry)
    client = mlflow.MlflowClient()
    name = registry.registered_model_name
    for alias in (CHAMPION, CHALLENGER):
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(name, alias)
    for version, family in ((1, "lightgbm"), (2, "knn"), (3, ENSEMBLE)):
        client.set_registered_model_alias(name, family, str(version))
    return client


def _alias(client, settings, alias) -> int | None:
    try:
        return int(client.get_model_version_by_alias(settings.registered_model_name, alias).version)
    except MlflowException:
        return None


def test_promoted_best_leaves_the_runner_up_as_challenger_and_records_it(registry, client):
    result = promote_best(registry)
    assert result["decision"] == "promoted" and result["candidate_version"] == 3
    assert result["challenger_version"] == 2 == _alias(client, registry, CHALLENGER)
    assert _alias(client, registry, CHAMPION) == 3
    run = client.get_run(result["run_id"])
    assert run.data.tags["challenger_version"] == "2" and run.data.tags["rule"] == "offline"
    assert result["rule"] == "offline" and result["live_evidence"] is None


def test_kept_best_that_is_the_champion_leaves_the_next_candidate_as_challenger(registry, client):
    set_champion(registry, 3)
    result = promote_best(registry)
    assert result["decision"] == "kept" and result["candidate_version"] == 3
    assert result["challenger_version"] == 2 == _alias(client, registry, CHALLENGER)


def test_kept_best_that_is_not_the_champion_becomes_challenger(registry, client):
    set_champion(registry, 3)
    client.delete_registered_model_alias(registry.registered_model_name, ENSEMBLE)
    result = promote_best(registry)  # knn (v2) is the best left, worse than the champion v3
    assert result["decision"] == "kept" and result["candidate_version"] == 2
    assert result["challenger_version"] == 2 == _alias(client, registry, CHALLENGER)
    assert _alias(client, registry, CHAMPION) == 3


def test_no_candidate_left_leaves_the_challenger_as_it_is(registry, client):
    set_champion(registry, 3)
    set_challenger(registry, 1)
    name = registry.registered_model_name
    for family in ("lightgbm", "knn"):
        client.delete_registered_model_alias(name, family)
    result = promote_best(registry)  # only the champion itself is a candidate
    assert result["decision"] == "kept" and result["challenger_version"] is None
    assert _alias(client, registry, CHALLENGER) == 1
    assert client.get_run(result["run_id"]).data.tags["challenger_version"] == "None"


def test_set_and_clear_challenger(registry, client):
    set_champion(registry, 3)
    assert set_challenger(registry, 1) == {
        "alias": CHALLENGER,
        "version": 1,
        "previous_version": None,
        "champion_version": 3,
    }
    assert set_challenger(registry, 2)["previous_version"] == 1
    assert _alias(client, registry, CHALLENGER) == 2
    assert clear_challenger(registry) == {
        "alias": CHALLENGER,
        "version": None,
        "previous_version": 2,
        "champion_version": 3,
    }
    assert _alias(client, registry, CHALLENGER) is None
    assert clear_challenger(registry)["previous_version"] is None  # clearing twice is fine


def test_set_challenger_refuses_the_champion_and_unknown_versions(registry, client):
    set_champion(registry, 3)
    with pytest.raises(InputError, match="version 3 is the champion"):
        set_challenger(registry, 3)
    with pytest.raises(InputError, match="has no version 99"):
        set_challenger(registry, 99)
    assert _alias(client, registry, CHALLENGER) is None


def test_champion_moving_onto_the_challenger_drops_the_challenger(registry, client):
    set_champion(registry, 3)
    set_challenger(registry, 2)
    set_champion(registry, 2)
    assert _alias(client, registry, CHAMPION) == 2 and _alias(client, registry, CHALLENGER) is None


def test_pick_challenger_skips_the_champion_version():
    class Version:
        def __init__(self, version):
            self.version = str(version)

    ranked = [Version(3), Version(2), Version(1)]
    assert pick_challenger(ranked, 3).version == "2"
    assert pick_challenger(ranked, 5).version == "3"
    assert pick_challenger(ranked[:1], 3) is None
