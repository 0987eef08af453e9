"""The ensemble end to end on a published synthetic dataset: it trains after the three families without ever
fitting on a TEST row, registers under alias `ensemble`, loads back and scores on the service's fast path, and
is reused only while its member versions hold their aliases."""

from __future__ import annotations

from collections import Counter

import mlflow
import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from etl.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from etl.dataset import load_dataset
from etl.errors import InputError
from etl.run_etl import run_etl
from etl.synthetic import write_synthetic_csv
from modeling.ensemble import MEMBERS_TAG, train_ensemble
from modeling.families import FAMILIES
from modeling.model_io import load_model
from modeling.registry_names import ENSEMBLE
from modeling.scoring import Scorer
from modeling.train import train_family
from modeling.weighted_vote import ClassWeightedVotingClassifier

pytestmark = pytest.mark.slow
FITTED_CLASSES = (
    LGBMClassifier,
    KNeighborsClassifier,
    CalibratedClassifierCV,
    SVC,
    ClassWeightedVotingClassifier,
)


def _row_keys(X) -> list[bytes]:
    return [row.tobytes() for row in np.ascontiguousarray(np.asarray(X, dtype=float))]


@pytest.fixture
def published(settings, tmp_path):
    write_synthetic_csv(tmp_path / "input.csv", rows=400, seed=21)
    run_etl(str(tmp_path / "input.csv"), settings)
    return settings, load_dataset(settings)


def _spy(cls, real_fit, calls):
    def fit(self, X, y, *args, **kwargs):
        if type(self) is cls:  # a subclass records once, under its own class
            calls.append((cls.__name__, _row_keys(X)))
        return real_fit(self, X, y, *args, **kwargs)

    return fit


def test_ensemble_trains_on_train_rows_only_registers_and_scores_like_its_pipeline(published, monkeypatch):
    settings, dataset = published
    members = {family: train_family(family, settings, trials=2)["model_version"] for family in FAMILIES}
    calls: list[tuple[str, list[bytes]]] = []
    # Spies installed only now: the families' own training is the leakage test's business.
    for cls in FITTED_CLASSES:
        monkeypatch.setattr(cls, "fit", _spy(cls, cls.fit, calls))

    result = train_ensemble(settings, dataset.version)

    train_rows = set(_row_keys(dataset.X_train))
    test_only = set(_row_keys(dataset.X_test)) - train_rows
    assert len(test_only) == len(dataset.X_test)  # TEST rows are distinguishable: the guard means something
    fitted = Counter(name for name, _ in calls)
    assert fitted["LGBMClassifier"] == fitted["KNeighborsClassifier"] == settings.cv_folds  # the OOF folds
    assert fitted["ClassWeightedVotingClassifier"] == 1
    for name, rows in calls:
        assert set(rows) <= train_rows, name
        assert not set(rows) & test_only, name

    assert result["family"] == ENSEMBLE and result["reused"] is False
    assert result["dataset_version"] == dataset.version
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(settings.registered_model_name, ENSEMBLE)
    assert int(version.version) == result["model_version"]
    assert version.tags["family"] == ENSEMBLE
    expected_members = ",".join(f"{family}:{members[family]}" for family in FAMILIES)
    assert client.get_run(result["run_id"]).data.tags[MEMBERS_TAG] == expected_members

    pipeline = load_model(f"models:/{settings.registered_model_name}@{ENSEMBLE}")
    proba = pipeline.predict_proba(dataset.test_raw)
    np.testing.assert_array_equal(pipeline.predict(dataset.test_raw), pipeline.classes_[proba.argmax(axis=1)])
    scorer = Scorer(pipeline)
    assert scorer.fast is not None
    numeric = dataset.test_raw[list(NUMERIC_FEATURES)].to_numpy(dtype=float)
    categorical = [tuple(map(str, row)) for row in dataset.test_raw[list(CATEGORICAL_FEATURES)].to_numpy()]
    np.testing.assert_allclose(scorer.predict_model_proba(numeric, categorical), proba, atol=1e-9)
    labels, _ = scorer.predict(numeric, categorical)
    assert labels == list(pipeline.predict(dataset.test_raw))


def test_ensemble_is_reused_only_while_its_members_hold_their_aliases(published):
    settings, dataset = published
    for family in FAMILIES:
        train_family(family, settings, trials=1)
    first = train_ensemble(settings, dataset.version, decision_rule=False)

    again = train_ensemble(settings, dataset.version, retrain=False)
    assert again["reused"] is True and again["model_version"] == first["model_version"]

    train_family("knn", settings, trials=1)  # a new knn version takes the alias
    rebuilt = train_ensemble(settings, dataset.version, retrain=False)
    assert rebuilt["reused"] is False and rebuilt["model_version"] > first["model_version"]


def test_ensemble_refuses_to_train_before_its_families(published):
    settings, dataset = published
    train_family("lightgbm", settings, trials=1)
    with pytest.raises(InputError, match="knn, svm"):
        train_ensemble(settings, dataset.version)
