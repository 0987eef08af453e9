"""The ensemble's pieces: the served vote (class = argmax of its probabilities, skops-loadable, scored on the
service's fast path), out-of-fold probabilities that never see their own rows, and the weight tuning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from etl.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from modeling import ensemble, vote_tuning
from modeling.families import FAMILIES
from modeling.model_io import TRUSTED_TYPES
from modeling.scoring import Scorer, frame_of
from modeling.weighted_vote import ClassWeightedVotingClassifier


@pytest.fixture(scope="module")
def members(dataset):
    """Each family's starting configuration, fitted on the synthetic TRAIN split."""
    X, y = np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train)
    return {name: spec.build_estimator(spec.starting_params, 42).fit(X, y) for name, spec in FAMILIES.items()}


def _vote(members, class_weights=(1.0, 1.4, 0.8)):
    return ClassWeightedVotingClassifier(
        [(name, FrozenEstimator(estimator)) for name, estimator in members.items()],
        weights=[0.5, 0.2, 0.3],
        class_weights=None if class_weights is None else list(class_weights),
    )


def test_vote_predicts_the_argmax_of_its_renormalised_probabilities(dataset, members):
    X, y = np.asarray(dataset.X_test, dtype=float), np.asarray(dataset.y_test)
    model = _vote(members).fit(np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train))
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    plain = VotingClassifier(model.estimators, voting="soft", weights=model.weights).fit(X, y)
    assert not np.allclose(proba, plain.predict_proba(X))  # the class weights do act


def test_vote_without_class_weights_is_sklearn_soft_voting(dataset, members):
    X, y = np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train)
    model = _vote(members, class_weights=None).fit(X, y)
    plain = VotingClassifier(model.estimators, voting="soft", weights=model.weights).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), plain.predict_proba(X))


def test_vote_round_trips_with_skops_and_scores_on_the_fast_path(dataset, members):
    X, y = np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train)
    pipeline = Pipeline([("preprocessor", dataset.preprocessor), ("model", _vote(members).fit(X, y))])
    data = sio.dumps(pipeline)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    restored = sio.loads(data, trusted=TRUSTED_TYPES)

    scorer = Scorer(restored)
    assert scorer.fast is not None  # the service's fast path agrees with the pipeline
    raw = dataset.test_raw
    numeric = raw[list(NUMERIC_FEATURES)].to_numpy(dtype=float)
    categorical = [tuple(row) for row in raw[list(CATEGORICAL_FEATURES)].astype(str).to_numpy()]
    labels, _ = scorer.predict(numeric, categorical)
    expected = pipeline.predict_proba(frame_of(numeric, categorical))
    np.testing.assert_allclose(scorer.predict_model_proba(numeric, categorical), expected, atol=1e-9)
    assert labels == list(pipeline.predict(raw))


def test_out_of_fold_probabilities_never_come_from_a_model_fitted_on_their_row(dataset, members, monkeypatch):
    X, y = np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train)
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(X, y))
    cap = 150
    monkeypatch.setitem(FAMILIES, "svm", dataclasses.replace(FAMILIES["svm"], max_tuning_rows=cap))
    seen: list[tuple[str, np.ndarray, np.ndarray]] = []
    real = ensemble.cross_val_predict

    def spy(estimator, X_, y_, cv, method):
        seen.extend((type(estimator).__name__, fit, held_out) for fit, held_out in cv)
        return real(estimator, X_, y_, cv=cv, method=method)

    monkeypatch.setattr(ensemble, "cross_val_predict", spy)
    probabilities = ensemble.predict_out_of_fold(members, X, y, folds, seed=0)

    assert set(probabilities) == set(FAMILIES)
    for proba in probabilities.values():
        assert proba.shape == (len(y), 3)
    assert len(seen) == 3 * len(folds)
    for name, fit, held_out in seen:
        assert not set(fit) & set(held_out)
        if name == "CalibratedClassifierCV":  # the SVM fits each fold on a capped stratified subsample
            assert len(fit) == cap
    held_out_rows = np.sort(np.concatenate([held_out for _, _, held_out in seen[: len(folds)]]))
    np.testing.assert_array_equal(held_out_rows, np.arange(len(y)))


def _noisy_probabilities(rows: int = 600, seed: int = 3):
    """Three members of decreasing skill on a 3-class problem; labels as class positions."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, rows)
    truth = np.eye(3)[codes]
    probabilities = {
        name: (truth * strength + rng.dirichlet(np.ones(3), size=rows)) / (1 + strength)
        for name, strength in (("a", 0.6), ("b", 0.2), ("c", 0.1))
    }
    return probabilities, codes


def test_tune_vote_beats_the_plain_average_and_weighs_the_better_member_more():
    probabilities, codes = _noisy_probabilities()
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(codes, codes))
    tuned = vote_tuning.tune_vote(probabilities, codes, folds, seed=0, decision_rule=False)
    plain = vote_tuning.macro_f1(vote_tuning.vote(probabilities), codes)
    assert vote_tuning.macro_f1(vote_tuning.vote(probabilities, tuned["weights"]), codes) >= plain
    assert sum(tuned["weights"]) == pytest.approx(1.0)
    assert tuned["weights"][0] > tuned["weights"][2]  # the better member weighs more
    assert tuned["class_weights"] is None and tuned["rule_gain"] is None


def test_keep_class_weights_only_when_they_win_on_held_out_folds():
    probabilities, codes = _noisy_probabilities(rows=1500)
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(codes, codes))
    # Calibrated members: no reweighting helps on rows it was not chosen on, so the rule is dropped.
    tuned = vote_tuning.tune_vote(probabilities, codes, folds, seed=0, decision_rule=True)
    assert tuned["rule_gain"] <= 0 and tuned["class_weights"] is None
    # Members that under-predict class 2: weighting it up wins everywhere, so the rule is kept.
    biased = {name: proba * [1.0, 1.0, 0.4] for name, proba in probabilities.items()}
    biased = {name: proba / proba.sum(axis=1, keepdims=True) for name, proba in biased.items()}
    tuned = vote_tuning.tune_vote(biased, codes, folds, seed=0, decision_rule=True)
    assert tuned["rule_gain"] > 0
    assert tuned["class_weights"][0] == 1.0 and tuned["class_weights"][2] > 1.0
