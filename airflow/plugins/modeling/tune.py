"""Optuna tuning of one family by stratified K-fold cross-validation on the TRAIN split only.

The study lives in `settings.optuna_storage` (an RDB URL) under a name made of the family and the dataset
version, so an interrupted study resumes and several workers can share it; the trial budget counts the
study's finished trials, not this call's. Each worker seeds its sampler with the seed plus its index, so the
workers do not suggest the same trials, and every trial records the host that ran it. Every trial is a nested
MLflow run under the caller's active run, or under a given parent run when the caller runs on another host.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from dataclasses import dataclass

import mlflow
import numpy as np
import optuna
from optuna.trial import TrialState
from sklearn.base import ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from burnout_base.settings import Settings
from burnout_base.tracking import NOTE_TAG
from modeling.families import Family, Params

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HOST_ATTR = "host"  # the Optuna user attribute and the MLflow tag naming the host that ran a trial
WORKER_ATTR = "tuning_worker"
Folds = list[tuple[np.ndarray, np.ndarray]]


def study_name(family: str, dataset_version: str) -> str:
    """One study per family and dataset version: a new dataset starts a new search."""
    return f"burnout-{family}-{dataset_version}"


def score_fold(estimator: ClassifierMixin, X_fit, y_fit, X_val, y_val) -> float:
    """Fit on one fold's training part and return macro-F1 on its validation part (all rows from TRAIN)."""
    estimator.fit(X_fit, y_fit)
    return float(f1_score(y_val, estimator.predict(X_val), average="macro"))


def cross_validate_folds(
    family: Family,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    folds: Folds,
    seed: int,
    trial: optuna.Trial | None = None,
) -> list[float]:
    """Macro-F1 of each of `folds`; reports the running mean after each fold so the pruner can stop early."""
    build = family.build_tuning_estimator or family.build_estimator
    scores: list[float] = []
    for step, (fit_rows, val_rows) in enumerate(folds):
        estimator = build(params, seed)
        scores.append(score_fold(estimator, X[fit_rows], y[fit_rows], X[val_rows], y[val_rows]))
        if trial is not None and family.prunable:
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"fold {step}: running macro-F1 {np.mean(scores):.4f}")
    return scores


def cross_validate(
    family: Family,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    folds: Folds,
    seed: int,
    trial: optuna.Trial | None = None,
) -> float:
    """Mean macro-F1 over `folds` (see cross_validate_folds)."""
    return float(np.mean(cross_validate_folds(family, params, X, y, folds, seed, trial)))


def select_tuning_rows(family: Family, y: np.ndarray, seed: int) -> np.ndarray:
    """Row positions a trial may use: all of TRAIN, or a stratified subsample for families that cap it."""
    rows = np.arange(len(y))
    if family.max_tuning_rows is None or len(y) <= family.max_tuning_rows:
        return rows
    kept, _ = train_test_split(rows, train_size=family.max_tuning_rows, stratify=y, random_state=seed)
    return np.sort(kept)


@dataclass(frozen=True)
class TuningData:
    """What every trial of a family is scored on: TRAIN's tuning rows, their folds, the estimators' seed."""

    X: np.ndarray
    y: np.ndarray
    folds: Folds
    seed: int


def prepare_tuning_data(family: Family, X_train, y_train, settings: Settings) -> TuningData:
    """The rows `family` may tune on (select_tuning_rows) split into the settings' stratified K folds."""
    X, y = np.asarray(X_train, dtype=float), np.asarray(y_train)
    rows = select_tuning_rows(family, y, settings.seed)
    X, y = X[rows], y[rows]
    splitter = StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.seed)
    return TuningData(X, y, list(splitter.split(X, y)), settings.seed)


def make_objective(
    family: Family,
    data: TuningData,
    dataset_version: str = "?",
    worker: int = 0,
    parent_run_id: str | None = None,
):
    """The Optuna objective: suggest, cross-validate, and record the trial as an MLflow run nested under
    `parent_run_id`, else under the active run; the trial and its run name the host and worker index."""

    active = mlflow.active_run()
    parent_run_id = parent_run_id or (active.info.run_id if active else None)
    # Nested runs otherwise land in the default experiment, not the parent's.
    experiment_id = mlflow.get_run(parent_run_id).info.experiment_id if parent_run_id else None
    host = socket.gethostname()

    def objective(trial: optuna.Trial) -> float:
        params = family.suggest_params(trial)
        label_trial(trial, params, host, worker)
        pruned: optuna.TrialPruned | None = None
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{family.name}-trial-{trial.number}",
            nested=active is not None,
            parent_run_id=parent_run_id,
        ):
            mlflow.set_tags(
                {"family": family.name, "optuna_trial": trial.number, HOST_ATTR: host, WORKER_ATTR: worker}
            )
            mlflow.log_params(params)
            about = f"Optuna trial {trial.number} of {family.name} on dataset `{dataset_version}`"
            try:
                fold_scores = cross_validate_folds(
                    family, params, data.X, data.y, data.folds, data.seed, trial
                )
                score = record_trial_scores(trial, fold_scores, about, data)
            except optuna.TrialPruned as exc:
                pruned = exc
                mlflow.set_tags(
                    {
                        "optuna_state": "pruned",
                        NOTE_TAG: f"{about}: pruned, behind the median of earlier trials.",
                    }
                )
        if pruned is not None:
            raise pruned
        return score

    return objective


def label_trial(trial: optuna.Trial, params: Params, host: str, worker: int) -> None:
    """Keep on the trial the parameters it scores and the host and worker index that run it."""
    # The factory's exact input, so the refit uses what was scored even if a space derives parameters.
    trial.set_user_attr("params", params)
    trial.set_user_attr(HOST_ATTR, host)
    trial.set_user_attr(WORKER_ATTR, worker)


def record_trial_scores(trial: optuna.Trial, fold_scores: list[float], about: str, data: TuningData) -> float:
    """Keep a finished trial's fold scores on it and log their mean and std to its run; return the mean."""
    score = float(np.mean(fold_scores))
    # Kept so training can report the spread across folds, not only the mean Optuna maximises.
    trial.set_user_attr("fold_scores", fold_scores)
    mlflow.log_metrics({"cv_macro_f1": score, "cv_macro_f1_std": float(np.std(fold_scores))})
    mlflow.set_tag(
        NOTE_TAG,
        f"{about}: CV macro-F1 {score:.4f} ± {np.std(fold_scores):.4f} over {len(data.folds)} folds "
        f"of {len(data.y)} TRAIN rows.",
    )
    return score


def open_study(family: Family, settings: Settings, dataset_version: str, worker: int = 0) -> optuna.Study:
    """Create or resume the family's study in the configured storage (TPE seeded with the seed plus `worker`,
    median pruning); a new study starts with the family's starting parameters as its first trial.

    Workers sharing a study must find it created (see `prepare_study`): two that both found it empty would
    both enqueue the starting trial."""
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if family.prunable
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=settings.optuna_storage,
        study_name=study_name(family.name, dataset_version),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed + worker),
        pruner=pruner,
        load_if_exists=True,
    )
    if not study.trials:
        study.enqueue_trial(family.starting_params)
    return study


def prepare_study(family: Family, settings: Settings, dataset_version: str) -> str:
    """Create the family's study and its starting trial once, before the workers that share it start;
    returns the study's name."""
    return open_study(family, settings, dataset_version).study_name


def count_trials_by_host(study: optuna.Study) -> dict[str, int]:
    """Finished trials per host that ran them ("unknown" for trials from before hosts were recorded)."""
    trials = study.get_trials(deepcopy=False, states=FINISHED)
    return dict(Counter(str(trial.user_attrs.get(HOST_ATTR, "unknown")) for trial in trials))


def tune_family(
    family: Family,
    X_train,
    y_train,
    settings: Settings,
    dataset_version: str,
    trials: int | None = None,
    timeout: float | None = None,
    worker: int = 0,
    parent_run_id: str | None = None,
) -> optuna.Study:
    """Tune `family` on TRAIN until the study holds `trials` finished trials or `timeout` seconds pass.

    `trials`/`timeout` override `settings.tuning_trials`/`settings.tuning_timeout_s`. Several calls may share
    the study at once, each with its own `worker` index (0, 1, ...): they stop together once the study holds
    the budget, and a trial still running then finishes, so the study ends with at most trials + workers - 1.
    Trial runs nest under `parent_run_id`, else under the active MLflow run. Returns the study; its
    best trial's `user_attrs["params"]` are the estimator parameters to refit, `user_attrs["fold_scores"]`
    its macro-F1 per fold (absent in trials of studies started before they were kept).
    """
    budget = trials if trials is not None else settings.tuning_trials
    timeout = timeout if timeout is not None else settings.tuning_timeout_s
    data = prepare_tuning_data(family, X_train, y_train, settings)
    study = open_study(family, settings, dataset_version, worker)
    remaining = budget - len(study.get_trials(deepcopy=False, states=FINISHED))
    log.info(
        "tuning %s on %d rows, %d folds: %d trial(s) to run, timeout %s s (worker %d on %s)",
        family.name,
        len(data.y),
        len(data.folds),
        max(remaining, 0),
        timeout,
        worker,
        socket.gethostname(),
    )
    if remaining > 0:
        study.optimize(
            make_objective(family, data, dataset_version, worker, parent_run_id),
            n_trials=remaining,
            timeout=timeout,
            # Workers sharing the study stop together once the study as a whole reaches the budget.
            callbacks=[optuna.study.MaxTrialsCallback(budget, states=FINISHED)],
        )
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise RuntimeError(f"study {study.study_name} has no completed trial; raise the budget")
    return study
