"""The model families: for each, a search space, an estimator factory and how it is tuned.

Adding a family means adding one `Family` entry to `FAMILIES`; tuning, training, logging, the skops trust list
and promotion pick it up from there. Spaces are sized for a 2-core machine and ~17k training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etl.errors import InputError

# The estimator libraries load when a model is built, not when this module is imported: every DAG parse and
# the API import the families (names, trust lists) without training anything.
if TYPE_CHECKING:
    import optuna
    from lightgbm import LGBMClassifier
    from sklearn.base import ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

Params = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """One model family.

    `suggest_params` maps an Optuna trial to estimator parameters; `build_estimator(params, seed)` returns an
    unfitted classifier with `predict_proba`; `starting_params` is the first trial of a new study (a sensible
    default, so that even a 1-trial budget yields a reasonable model); `prunable` says whether per-fold
    pruning pays off; `build_tuning_estimator`, when set, builds the cheaper estimator cross-validation
    scores (the served one minus a wrapper that only adds probabilities); `max_tuning_rows` caps the rows a
    trial cross-validates on; `trusted_types` are the extra skops types a fitted estimator of this family
    contains.
    """

    name: str
    suggest_params: Callable[[optuna.Trial], Params]
    build_estimator: Callable[[Params, int], ClassifierMixin]
    starting_params: Params
    prunable: bool
    build_tuning_estimator: Callable[[Params, int], ClassifierMixin] | None = None
    max_tuning_rows: int | None = None
    trusted_types: tuple[str, ...] = ()


def suggest_lightgbm(trial: optuna.Trial) -> Params:
    return {
        # Shallow trees do best on these 16 features; capping leaves and trees also bounds a trial's cost.
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 32, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def build_lightgbm(params: Params, seed: int) -> LGBMClassifier:
    from lightgbm import LGBMClassifier

    # One thread: on ~17k rows a second one gains ~25% on an idle machine, but OpenMP threads spin and slow
    # down many-fold on a busy one, and the served model predicts small batches where threads add overhead.
    return LGBMClassifier(**params, subsample_freq=1, n_jobs=1, verbose=-1, random_state=seed)


def suggest_knn(trial: optuna.Trial) -> Params:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 3, 100, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
        "p": trial.suggest_categorical("p", [1, 2]),
    }


def build_knn(params: Params, seed: int) -> KNeighborsClassifier:
    from sklearn.neighbors import KNeighborsClassifier

    del seed  # KNN is deterministic.
    return KNeighborsClassifier(**params)


def suggest_svm(trial: optuna.Trial) -> Params:
    # Large C makes libsvm converge slowly; beyond 30 it costs minutes and gains nothing on this data.
    return {
        "C": trial.suggest_float("C", 0.1, 30.0, log=True),
        "gamma": trial.suggest_float("gamma", 1e-3, 0.5, log=True),
        "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
    }


def build_svc(params: Params, seed: int) -> SVC:
    """The bare SVC: what tuning scores (its predictions need no probability model)."""
    from sklearn.svm import SVC

    return SVC(**params, kernel="rbf", cache_size=500, random_state=seed)


def build_svm(params: Params, seed: int) -> CalibratedClassifierCV:
    from sklearn.calibration import CalibratedClassifierCV

    # Platt scaling fitted on 3 internal folds gives predict_proba, replacing SVC(probability=True)
    # (deprecated in scikit-learn 1.9); unlike it, predict() is the argmax of predict_proba, so the API's
    # class and probabilities never disagree.
    return CalibratedClassifierCV(build_svc(params, seed), method="sigmoid", cv=3, ensemble=False)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="lightgbm",
            suggest_params=suggest_lightgbm,
            build_estimator=build_lightgbm,
            starting_params={
                "n_estimators": 150,
                "learning_rate": 0.05,
                "num_leaves": 8,
                "min_child_samples": 20,
                "subsample": 0.8,
                "colsample_bytree": 0.9,
                "reg_lambda": 0.1,
                "class_weight": None,
            },
            prunable=True,
            trusted_types=(
                "collections.OrderedDict",
                "lightgbm.basic.Booster",
                "lightgbm.sklearn.LGBMClassifier",
            ),
        ),
        Family(
            name="knn",
            suggest_params=suggest_knn,
            build_estimator=build_knn,
            starting_params={"n_neighbors": 30, "weights": "distance", "p": 2},
            # A KNN trial takes about a second: pruning would only add noise.
            prunable=False,
            # algorithm="auto" may index the training rows in a KD or ball tree (brute force needs no type).
            trusted_types=(
                "sklearn.metrics._dist_metrics.EuclideanDistance64",
                "sklearn.metrics._dist_metrics.ManhattanDistance64",
                "sklearn.neighbors._ball_tree.BallTree",
                "sklearn.neighbors._kd_tree.KDTree",
            ),
        ),
        Family(
            name="svm",
            suggest_params=suggest_svm,
            build_estimator=build_svm,
            starting_params={"C": 1.0, "gamma": 0.06, "class_weight": None},
            prunable=True,
            # CV scores the SVC's own decisions, skipping the calibration's 3 extra fits per fold.
            build_tuning_estimator=build_svc,
            # libsvm fits grow ~quadratically with rows; a stratified 8k subsample keeps a trial at seconds.
            max_tuning_rows=8_000,
            trusted_types=(
                "sklearn.calibration._CalibratedClassifier",
                "sklearn.calibration._SigmoidCalibration",
            ),
        ),
    )
}


def get_family(name: str) -> Family:
    """The family called `name`, or an InputError that lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}") from None
