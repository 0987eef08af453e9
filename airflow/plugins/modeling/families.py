"""The model families: for each, a search space, an estimator factory and how it is tuned.

Adding a family means adding one `Family` entry to `FAMILIES`; tuning, training, logging, the skops trust list
and promotion pick it up from there. Spaces are sized for a 2-core machine and ~17k training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from lightgbm import LGBMClassifier
from sklearn.base import ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from etl.errors import InputError

Params = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """One model family.

    `suggest_params` maps an Optuna trial to estimator parameters; `build_estimator(params, seed)` returns an
    unfitted classifier with `predict_proba`; `starting_params` is the first trial of a new study (a sensible
    default, so that even a 1-trial budget yields a reasonable model); `prunable` says whether per-fold
    pruning pays off; `tuning_overrides` are parameters set only while cross-validating (they must not
    change predictions); `max_tuning_rows` caps the rows a trial cross-validates on; `trusted_types` are the
    extra skops types a fitted estimator of this family contains.
    """

    name: str
    suggest_params: Callable[[optuna.Trial], Params]
    build_estimator: Callable[[Params, int], ClassifierMixin]
    starting_params: Params
    prunable: bool
    tuning_overrides: Params = field(default_factory=dict)
    max_tuning_rows: int | None = None
    trusted_types: tuple[str, ...] = ()


def suggest_lightgbm(trial: optuna.Trial) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 500, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def build_lightgbm(params: Params, seed: int) -> LGBMClassifier:
    # Two threads match the machine; more only adds contention on ~17k rows.
    return LGBMClassifier(**params, subsample_freq=1, n_jobs=2, verbose=-1, random_state=seed)


def suggest_knn(trial: optuna.Trial) -> Params:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 3, 100, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
        "p": trial.suggest_categorical("p", [1, 2]),
    }


def build_knn(params: Params, seed: int) -> KNeighborsClassifier:
    del seed  # KNN is deterministic.
    return KNeighborsClassifier(**params)


def suggest_svm(trial: optuna.Trial) -> Params:
    # Large C makes libsvm converge slowly; beyond 30 it costs minutes and gains nothing on this data.
    return {
        "C": trial.suggest_float("C", 0.1, 30.0, log=True),
        "gamma": trial.suggest_float("gamma", 1e-3, 0.5, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def build_svm(params: Params, seed: int) -> SVC:
    # probability=True gives the served model predict_proba (Platt scaling, 5 internal fits).
    return SVC(**params, kernel="rbf", probability=True, cache_size=500, random_state=seed)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="lightgbm",
            suggest_params=suggest_lightgbm,
            build_estimator=build_lightgbm,
            starting_params={
                "n_estimators": 150, "learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 20,
                "subsample": 0.8, "colsample_bytree": 0.9, "reg_lambda": 0.1, "class_weight": None,
            },
            prunable=True,
            trusted_types=("collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier"),
        ),
        Family(
            name="knn",
            suggest_params=suggest_knn,
            build_estimator=build_knn,
            starting_params={"n_neighbors": 30, "weights": "distance", "p": 2},
            # A KNN trial takes about a second: pruning would only add noise.
            prunable=False,
        ),
        Family(
            name="svm",
            suggest_params=suggest_svm,
            build_estimator=build_svm,
            starting_params={"C": 1.0, "gamma": 0.06, "class_weight": None},
            prunable=True,
            # SVC.predict does not use the Platt model, so CV scores are the same without its 5 extra fits.
            tuning_overrides={"probability": False},
            # libsvm fits grow ~quadratically with rows; a stratified 8k subsample keeps a trial at seconds.
            max_tuning_rows=8_000,
        ),
    )
}


def get_family(name: str) -> Family:
    """The family called `name`, or an InputError that lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}") from None
