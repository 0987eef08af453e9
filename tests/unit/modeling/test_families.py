"""Every family yields a classifier with probabilities that skops can save and reload with TRUSTED_TYPES."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import skops.io as sio

from etl.errors import InputError
from modeling.families import FAMILIES, get_family
from modeling.model_io import TRUSTED_TYPES


def _tiny_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    y = np.array(["Low", "Medium", "High"])[np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.5, 0.5])]
    return X, y


def _sampled_params(family) -> list[dict]:
    """The starting point and a few params the family's search space actually suggests."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    return [family.starting_params] + [family.suggest_params(study.ask()) for _ in range(3)]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_build_estimator_fits_predicts_probabilities_and_round_trips_with_skops(name):
    family = FAMILIES[name]
    X, y = _tiny_problem()
    for params in _sampled_params(family):
        estimator = family.build_estimator(params, 42).fit(X, y)
        proba = estimator.predict_proba(X)
        assert proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        data = sio.dumps(estimator)
        assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
        restored = sio.loads(data, trusted=TRUSTED_TYPES)
        np.testing.assert_array_equal(restored.predict(X), estimator.predict(X))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_predicted_class_is_the_most_probable_one(name):
    # The API answers with both: a class that disagreed with its own probabilities would confuse clients.
    family = FAMILIES[name]
    X, y = _tiny_problem(3)
    estimator = family.build_estimator(family.starting_params, 42).fit(X, y)
    most_probable = estimator.classes_[estimator.predict_proba(X).argmax(axis=1)]
    np.testing.assert_array_equal(estimator.predict(X), most_probable)


def test_svm_tuning_scores_the_served_svc_without_calibration():
    family = FAMILIES["svm"]
    served = family.build_estimator(family.starting_params, 42)
    tuned = family.build_tuning_estimator(family.starting_params, 42)
    assert served.estimator.get_params() == tuned.get_params()


def test_starting_params_lie_in_the_search_space():
    for family in FAMILIES.values():
        study = optuna.create_study()
        study.enqueue_trial(family.starting_params)
        trial = study.ask()
        assert family.suggest_params(trial) == family.starting_params, family.name


def test_get_family_unknown_names_the_choices():
    with pytest.raises(InputError, match="lightgbm, knn, svm"):
        get_family("xgboost")


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree", "brute"])
@pytest.mark.parametrize("p", [1, 2])
def test_knn_any_neighbor_index_is_trusted(algorithm, p):
    X, y = _tiny_problem(5)
    estimator = FAMILIES["knn"].build_estimator({"n_neighbors": 5, "weights": "uniform", "p": p}, 0)
    estimator.set_params(algorithm=algorithm).fit(X, y)
    assert set(sio.get_untrusted_types(data=sio.dumps(estimator))) <= set(TRUSTED_TYPES)
