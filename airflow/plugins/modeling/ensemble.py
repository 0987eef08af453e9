"""The `ensemble` candidate: a weighted soft vote of the tuned families, fitted on TRAIN only.

Its members are the very estimators the families registered for the dataset version (fitted on all of
TRAIN with their tuned parameters), reused frozen instead of refitted: the calibrated SVM's refit on ~17k rows
is the slowest fit of the pipeline, and sklearn's StackingClassifier would pay it again plus K more. What the
vote learns (a weight per family, then optionally a weight per class for macro-F1: `modeling.vote_tuning`)
is chosen on out-of-fold probabilities of the same configurations (`cross_val_predict` over a stratified
K-fold of TRAIN), so no weight is chosen on predictions of rows a member was fitted on, and TEST is only read
once, by the evaluation every candidate gets. It registers under alias `ensemble` and competes under the same
promotion rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import mlflow
import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from burnout_base.plain import to_plain
from burnout_base.settings import Settings
from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.dataset import load_dataset
from etl.errors import InputError
from modeling.families import FAMILIES
from modeling.model_io import load_model
from modeling.registry import find_trained_version
from modeling.registry_names import ENSEMBLE
from modeling.train import TrainedModel, log_dataset_inputs, record_trained_model
from modeling.tune import select_tuning_rows
from modeling.vote_tuning import fold_scores, macro_f1, tune_vote, vote
from modeling.weighted_vote import ClassWeightedVotingClassifier

log = logging.getLogger(__name__)
# The tag naming the family versions an ensemble votes with ("lightgbm:3,knn:4,svm:5"): an ensemble is only
# reused while the families it was built from still hold their aliases.
MEMBERS_TAG = "ensemble_members"


def find_members(settings: Settings, dataset_version: str) -> dict[str, int]:
    """The registered version of each family trained on `dataset_version`; an InputError names any missing."""
    members, missing = {}, []
    for family in FAMILIES:
        found = find_trained_version(settings, family, dataset_version)
        if found is None:
            missing.append(family)
        else:
            members[family] = int(found["model_version"])
    if missing:
        raise InputError(
            f"no {', '.join(missing)} model trained on dataset {dataset_version}: "
            "train the families before the ensemble"
        )
    return members


def describe_members(members: Mapping[str, int]) -> str:
    return ",".join(f"{family}:{version}" for family, version in members.items())


def find_reusable_ensemble(settings: Settings, dataset_version: str, members: Mapping[str, int]):
    """The ensemble registered for `dataset_version` from exactly these member versions, described as training
    describes it (reused=True), or None."""
    existing = find_trained_version(settings, ENSEMBLE, dataset_version)
    if existing is None:
        return None
    tags = mlflow.MlflowClient().get_run(existing["run_id"]).data.tags
    return existing if tags.get(MEMBERS_TAG) == describe_members(members) else None


def load_member_estimators(settings: Settings, members: Mapping[str, int]) -> dict[str, ClassifierMixin]:
    """Each member version's fitted estimator (the Pipeline's last step), loaded as it is served."""
    name = settings.registered_model_name
    return {
        family: load_model(f"models:/{name}/{version}").steps[-1][1] for family, version in members.items()
    }


def predict_out_of_fold(
    estimators: Mapping[str, ClassifierMixin], X: np.ndarray, y: np.ndarray, folds: list, seed: int
) -> dict[str, np.ndarray]:
    """Each family's out-of-fold probabilities on TRAIN: an unfitted clone (same parameters) is fitted on each
    fold's training part and predicts its held-out part.

    A family that caps its tuning rows (the SVM) fits each fold on a stratified subsample of that part of the
    same size as its tuning trials: libsvm's cost grows ~quadratically, and on the real data (2 cores) the
    capped folds took 7 s against 21 s for 14k rows each, for the same out-of-fold macro-F1 (0.854). Every
    TRAIN row is still predicted once, by a model that never saw it.
    """
    probabilities = {}
    for family, estimator in estimators.items():
        spec = FAMILIES[family]
        splits = [(fit[select_tuning_rows(spec, y[fit], seed)], held_out) for fit, held_out in folds]
        started = time.monotonic()
        probabilities[family] = cross_val_predict(clone(estimator), X, y, cv=splits, method="predict_proba")
        log.info("out-of-fold probabilities of %s in %.1fs", family, time.monotonic() - started)
    return probabilities


def train_ensemble(
    settings: Settings, dataset_version: str | None = None, retrain: bool = True, decision_rule: bool = True
) -> dict[str, Any]:
    """Fit, evaluate and register the `ensemble` of the families trained on `dataset_version` (default: the
    latest published), unless `retrain` is off and one from the same member versions exists (then that one is
    reported with reused=True). `decision_rule` also tunes per-class weights for macro-F1.

    Returns what train_family returns (family "ensemble", run_id, model_version, dataset_version, cv_macro_f1,
    best_params, test_metrics, seconds) plus reused.
    """
    started = time.monotonic()
    dataset = load_dataset(settings, dataset_version)
    members = find_members(settings, dataset.version)
    if not retrain:
        existing = find_reusable_ensemble(settings, dataset.version, members)
        if existing is not None:
            log.info("ensemble v%s of %s is reused", existing["model_version"], describe_members(members))
            return existing
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    configure_mlflow(settings)
    X, y = np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train)
    estimators = load_member_estimators(settings, members)
    splitter = StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.seed)
    folds = list(splitter.split(X, y))

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{ENSEMBLE}-{dataset.version}"):
        log_dataset_inputs(dataset)
        probabilities = predict_out_of_fold(estimators, X, y, folds, settings.seed)
        classes = np.unique(y)  # the probabilities' column order
        codes = np.searchsorted(classes, y)
        tuned = tune_vote(probabilities, codes, folds, settings.seed, decision_rule)
        pipeline = Pipeline(
            [("preprocessor", dataset.preprocessor), ("model", build_vote(estimators, tuned, X, y))]
        )
        mlflow.log_metrics(measure_out_of_fold(probabilities, codes, tuned))
        model = TrainedModel(
            ENSEMBLE,
            pipeline,
            describe_vote(estimators, classes, tuned),
            cv_scores=fold_scores(probabilities, codes, folds, tuned["weights"], tuned["class_weights"]),
            extra_tags={MEMBERS_TAG: describe_members(members)},
        )
        summary = record_trained_model(model, dataset, settings)
    summary["seconds"] = round(time.monotonic() - started, 1)
    log.info("ensemble of %s trained in %.0fs", describe_members(members), summary["seconds"])
    return {**to_plain(summary), "reused": False}


def build_vote(
    estimators: Mapping[str, ClassifierMixin], tuned: Mapping[str, Any], X: np.ndarray, y: np.ndarray
) -> ClassWeightedVotingClassifier:
    """The soft vote of the members `tune_vote` gave a weight (frozen: fitted on TRAIN already), with its
    class weights; "fitted" on TRAIN, which only records the classes."""
    voters = [
        (family, FrozenEstimator(estimator), weight)
        for (family, estimator), weight in zip(estimators.items(), tuned["weights"], strict=True)
        if weight > 0
    ]
    model = ClassWeightedVotingClassifier(
        [(family, estimator) for family, estimator, _ in voters],
        weights=[weight for _, _, weight in voters],
        class_weights=tuned["class_weights"],
    )
    # Frozen members ignore fit: this only records the classes (the members were fitted on TRAIN).
    return model.fit(X, y)


def describe_vote(
    estimators: Mapping[str, ClassifierMixin], classes: np.ndarray, tuned: Mapping[str, Any]
) -> dict[str, Any]:
    """The ensemble's logged parameters: weight_<family> for every member, decision_rule, and
    class_weight_<class> when the rule was kept."""
    params = {f"weight_{family}": w for family, w in zip(estimators, tuned["weights"], strict=True)}
    params["decision_rule"] = tuned["class_weights"] is not None
    if tuned["class_weights"] is not None:
        params |= {f"class_weight_{c}": w for c, w in zip(classes, tuned["class_weights"], strict=True)}
    return params


def measure_out_of_fold(
    probabilities: Mapping[str, np.ndarray], codes: np.ndarray, tuned: Mapping[str, Any]
) -> dict[str, float]:
    """Out-of-fold macro-F1 of each member and of their plain average, and the decision rule's held-out gain
    when it was measured: what the vote is compared with."""
    metrics = {f"oof_macro_f1_{family}": macro_f1(p, codes) for family, p in probabilities.items()}
    metrics["oof_macro_f1_plain_average"] = macro_f1(vote(probabilities), codes)
    if tuned["rule_gain"] is not None:
        metrics["decision_rule_heldout_gain"] = tuned["rule_gain"]
    return metrics
