"""Training one family end to end: tune on TRAIN, refit the best parameters on all of TRAIN, evaluate once on
TEST through the raw-input model, log everything to MLflow and register the model under the family's alias;
or reuse the family's version when it was already trained on the dataset version asked for.

Three steps that pass a small plan dict, so that a DAG can spread the middle one over its workers:
`plan_training` creates the study, its starting trial and the family's MLflow run once; `tune_share` (K of
them, on any host) tunes the shared study until its budget; `register_best` refits the study's best trial and
registers the family, once. `train_family` runs the three in this process."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from optuna.trial import TrialState
from sklearn.pipeline import Pipeline

from burnout_base.plain import to_plain
from burnout_base.settings import Settings
from burnout_base.tracking import NOTE_TAG, configure_mlflow, ensure_experiment
from etl.contract import NULLABLE_FEATURES
from etl.dataset import ProcessedDataset, load_dataset
from modeling.evaluate import Evaluation, evaluate_model, log_evaluation
from modeling.families import get_family
from modeling.importance import log_background, log_importance
from modeling.model_card import ModelCardInputs, build_model_card, describe_registered_model
from modeling.model_io import describe_version, log_model
from modeling.registry import find_trained_version
from modeling.registry_names import DATASET_VERSION_TAG, FAMILY_TAG, MODEL_CARD_ARTIFACT
from modeling.tune import (
    FINISHED,
    WORKER_ATTR,
    count_trials_by_host,
    open_study,
    prepare_study,
    tune_family,
)

log = logging.getLogger(__name__)
EXAMPLE_ROWS = 5


def read_git_commit() -> str:
    """The commit of the code doing the training, or "unknown" outside a git checkout (e.g. in an image)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def select_input_example(train_raw: pd.DataFrame) -> pd.DataFrame:
    """A few raw TRAIN records, including one with a missing optional value when there is one."""
    example = train_raw.head(EXAMPLE_ROWS)
    with_gaps = train_raw[train_raw[list(NULLABLE_FEATURES)].isna().any(axis=1)]
    if not with_gaps.empty:
        example = pd.concat([example.head(EXAMPLE_ROWS - 1), with_gaps.head(1)])
    return example.reset_index(drop=True)


def log_dataset_inputs(dataset: ProcessedDataset) -> None:
    """Record the dataset version as the run's MLflow dataset inputs (digest = the content-hash version)."""
    source = dataset.manifest.get("published_to", "")
    for context, raw in (("train", dataset.train_raw), ("test", dataset.test_raw)):
        with warnings.catch_warnings():
            # MLflow's schema hints (integer columns, ambiguous file:// source) are noise here: the model's
            # signature is built from the contract, and the source is only a label.
            warnings.simplefilter("ignore", UserWarning)
            frame = mlflow.data.from_pandas(
                raw, source=source, name=f"burnout-{dataset.version}-{context}", digest=dataset.version
            )
            mlflow.log_input(frame, context=context)  # the schema is inferred lazily, here


def train_family(
    family: str,
    settings: Settings,
    dataset_version: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
) -> dict:
    """Tune, fit, evaluate and register `family` on a published dataset (default: the latest), in this
    process (one tuning worker).

    Returns register_best's summary.
    """
    return train_or_reuse(family, settings, dataset_version, {"trials": trials, "timeout_s": timeout})


def plan_training(
    family: str,
    settings: Settings,
    dataset_version: str | None,
    budget: Mapping[str, Any],
    retrain: bool = True,
) -> dict[str, Any]:
    """Everything the family's tuning workers share, created once before they start: the Optuna study with
    its starting trial, and the family's MLflow training run, left running for the workers' trial runs to
    nest under. Fails here, before any worker starts, when the dataset version is not published.

    With `retrain` off and the family's alias already on a version trained on this dataset version, nothing
    is created: the plan carries that version as `reused` and the other steps only pass it on. `budget` is
    resolve_budget's dict ("trials"/"timeout_s" None = settings; "workers" default 1).
    """
    spec = get_family(family)
    # Loaded, not only named: a version that is not published fails here, before any worker is mapped.
    version = load_dataset(settings, dataset_version).version
    if not retrain:
        existing = find_trained_version(settings, family, version)
        if existing is not None:
            log.info(
                "%s: version %s already trained on dataset %s; reusing it (retrain to train again)",
                family,
                existing["model_version"],
                version,
            )
            return {"family": spec.name, "dataset_version": version, "reused": existing}
    name = prepare_study(spec, settings, version)
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    configure_mlflow(settings)
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        run_name=f"{spec.name}-{version}",
        tags={"optuna_study": name, **version_tags(spec.name, version)},
    )
    workers = int(budget.get("workers") or 1)
    log.info("planned %s on dataset %s: study %s, %d tuning worker(s)", spec.name, version, name, workers)
    return {
        "family": spec.name,
        "dataset_version": version,
        "reused": None,
        "study_name": name,
        "run_id": run.info.run_id,
        "trials": budget.get("trials"),
        "timeout_s": budget.get("timeout_s"),
        "workers": list(range(workers)),
        "started_at": time.time(),
    }


def tune_share(plan: Mapping[str, Any], settings: Settings, worker: int) -> dict[str, Any]:
    """Tuning worker `worker` of a plan: tune the shared study until it holds the budget (or the timeout
    passes), on whatever host runs this. Returns family, worker, host, trials_finished (the study's) and
    skipped (True when the plan reuses a version: nothing to tune)."""
    host = socket.gethostname()
    if plan["reused"]:
        return {"family": plan["family"], "worker": worker, "host": host, "skipped": True}
    spec = get_family(plan["family"])
    dataset = load_dataset(settings, plan["dataset_version"])
    configure_mlflow(settings)
    study = tune_family(
        spec,
        dataset.X_train,
        dataset.y_train,
        settings,
        dataset.version,
        plan["trials"],
        plan["timeout_s"],
        worker=worker,
        parent_run_id=plan["run_id"],
    )
    mine = sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get(WORKER_ATTR) == worker)
    log.info("%s worker %d on %s: %d trial(s) of its own in the study", spec.name, worker, host, mine)
    return {
        "family": spec.name,
        "worker": worker,
        "host": host,
        "trials_finished": len(study.get_trials(deepcopy=False, states=FINISHED)),
        "skipped": False,
    }


def register_best(plan: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Once all tuning workers are done: refit the study's best trial on all of TRAIN, evaluate it on TEST and
    register it in the plan's training run (ended here). Returns record_trained_model's summary as plain data,
    plus seconds (since the plan), trials_by_host and reused=False; a reused plan returns the reused version's
    summary (reused=True). Registers once per plan: a retry after the run finished returns what it registered.
    """
    if plan["reused"]:
        return plan["reused"]
    configure_mlflow(settings)
    registered = find_registered_version(settings, plan["run_id"])
    if registered is not None:
        log.info("%s: plan's run already registered v%s", plan["family"], registered["model_version"])
        return registered
    spec = get_family(plan["family"])
    dataset = load_dataset(settings, plan["dataset_version"])
    study = open_study(spec, settings, dataset.version)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise RuntimeError(f"study {study.study_name} has no completed trial; raise the budget")
    best = study.best_trial
    params = best.user_attrs["params"]
    by_host = count_trials_by_host(study)
    with mlflow.start_run(run_id=plan["run_id"]):
        log_dataset_inputs(dataset)
        mlflow.log_metric("optuna_trials", len(study.trials))
        mlflow.set_tag("optuna_trials_by_host", ", ".join(f"{h}: {n}" for h, n in sorted(by_host.items())))
        # Refit on all of TRAIN, as the arrays the preprocessor hands the estimator inside the Pipeline.
        estimator = spec.build_estimator(params, settings.seed)
        estimator.fit(np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train))
        pipeline = Pipeline([("preprocessor", dataset.preprocessor), ("model", estimator)])
        # Studies from before per-fold scores were kept only know the mean.
        trained = TrainedModel(
            spec.name, pipeline, params, cv_scores=best.user_attrs.get("fold_scores"), cv_macro_f1=best.value
        )
        summary = record_trained_model(trained, dataset, settings)
    summary["trials_by_host"] = by_host
    summary["seconds"] = round(time.time() - plan["started_at"], 1)
    return {**to_plain(summary), "reused": False}


def find_registered_version(settings: Settings, run_id: str) -> dict[str, Any] | None:
    """The version a training run registered, described, once that run has finished; else None."""
    client = mlflow.MlflowClient()
    if client.get_run(run_id).info.status != "FINISHED":
        return None  # never finished registering: a retry registers again
    name = settings.registered_model_name
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if not versions:
        return None
    return {**describe_version(client, name, versions[0].version), "reused": False}


def version_tags(family_name: str, dataset: ProcessedDataset | str) -> dict[str, str]:
    """The tags a training run and its registered version carry (see registry_names); `dataset` is the
    dataset or its version."""
    version = dataset if isinstance(dataset, str) else dataset.version
    return {FAMILY_TAG: family_name, DATASET_VERSION_TAG: version, "git_commit": read_git_commit()}


@dataclass(frozen=True)
class TrainedModel:
    """A fitted raw-input `pipeline` (a family or the ensemble) and how it was chosen, ready to be recorded
    under alias `family`. `cv_scores` are the per-fold CV macro-F1 of the chosen `params`; `cv_macro_f1`
    stands in for their mean when the folds are unknown. `extra_tags` go on the run and the registered
    version."""

    family: str
    pipeline: Pipeline
    params: Mapping[str, Any]
    cv_scores: Sequence[float] | None = None
    cv_macro_f1: float | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)


def record_trained_model(
    model: TrainedModel, dataset: ProcessedDataset, settings: Settings
) -> dict[str, Any]:
    """Everything after the fit: evaluate once on TEST (with the macro-F1 bootstrap CI and calibration), log
    params, CV and TEST metrics, the feature importance and explanation background, log and register the
    model under alias `model.family`, and write its model card (run artifact and description).

    Must run inside the active MLflow training run. CV is logged as cv_macro_f1 = mean of the fold scores,
    cv_macro_f1_std = their std (omitted when only `model.cv_macro_f1` is known).
    Returns family, run_id, model_version, dataset_version, cv_macro_f1, cv_macro_f1_std, best_params and
    test_metrics (evaluate_model's names, without the "test_" prefix).
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("record_trained_model must be called inside an active MLflow run")
    tags = {**version_tags(model.family, dataset), **model.extra_tags}
    cv_metrics = log_training_choices(model, tags)
    evaluation = evaluate_model(model.pipeline, dataset.test_raw, dataset.y_test, seed=settings.seed)
    log_evaluation(evaluation)
    # Explanations: the global ranking (table + chart) feeds the model card; the background sample is what
    # the service explains non-tree models against, so it travels with the run.
    importance = log_importance(model.pipeline, dataset, settings.seed)
    log_background(dataset, settings.seed)
    info = log_model(model.pipeline, select_input_example(dataset.train_raw), settings.registered_model_name)
    model_version = int(info.registered_model_version)
    register_version(settings, model_version, tags)
    card = ModelCardInputs(
        registered_model_name=settings.registered_model_name,
        family=model.family,
        model_version=model_version,
        params=model.params,
        dataset_version=dataset.version,
        y_train=dataset.y_train,
        y_test=dataset.y_test,
        test_metrics=evaluation.metrics,
        cv_macro_f1=cv_metrics.get("cv_macro_f1"),
        cv_macro_f1_std=cv_metrics.get("cv_macro_f1_std"),
        importance=importance,
        git_commit=tags["git_commit"],
    )
    publish_model_card(settings, model_version, build_model_card(card))
    mlflow.set_tag(NOTE_TAG, describe_training(card, evaluation))
    return summarize_training(card, run.info.run_id, evaluation)


def measure_cv(model: TrainedModel) -> dict[str, float]:
    """cv_macro_f1 (and cv_macro_f1_std when the fold scores are known) of `model`; empty when neither is."""
    if model.cv_scores:
        scores = model.cv_scores
        return {"cv_macro_f1": float(np.mean(scores)), "cv_macro_f1_std": float(np.std(scores))}
    if model.cv_macro_f1 is not None:
        return {"cv_macro_f1": float(model.cv_macro_f1)}
    return {}


def log_training_choices(model: TrainedModel, tags: Mapping[str, str]) -> dict[str, float]:
    """Log `tags`, the chosen parameters and the CV metrics to the active run; return the CV metrics."""
    mlflow.set_tags(tags)
    mlflow.log_params(model.params)
    cv_metrics = measure_cv(model)
    mlflow.log_metrics(cv_metrics)
    return cv_metrics


def describe_training(card: ModelCardInputs, evaluation: Evaluation) -> str:
    """The training run's note: what was registered, its TEST macro-F1 with CI and CV, where the card is."""
    cv = card.cv_macro_f1
    low, high = evaluation.macro_f1_ci
    return (
        f"Trained {card.family} on dataset `{card.dataset_version}` and registered it as "
        f"`{card.registered_model_name}` v{card.model_version}: test macro-F1 "
        f"{evaluation.metrics['macro_f1']:.4f} (95% CI {low:.4f} to {high:.4f})"
        + ("" if cv is None else f", CV macro-F1 {cv:.4f}")
        + ". "
        f"The model card is the registered version's description and `{MODEL_CARD_ARTIFACT}` here."
    )


def summarize_training(card: ModelCardInputs, run_id: str, evaluation: Evaluation) -> dict[str, Any]:
    """record_trained_model's summary of what it registered, also logged."""
    summary = {
        "family": card.family,
        "run_id": run_id,
        "model_version": card.model_version,
        "dataset_version": card.dataset_version,
        "cv_macro_f1": card.cv_macro_f1,
        "cv_macro_f1_std": card.cv_macro_f1_std,
        "best_params": dict(card.params),
        "test_metrics": evaluation.metrics,
    }
    log.info(
        "trained %s v%d: cv macro-F1 %s, test macro-F1 %.4f [%.4f, %.4f]",
        card.family,
        card.model_version,
        "n/a" if card.cv_macro_f1 is None else f"{card.cv_macro_f1:.4f}",
        evaluation.metrics["macro_f1"],
        *evaluation.macro_f1_ci,
    )
    return summary


def register_version(settings: Settings, model_version: int, tags: dict[str, str]) -> None:
    """Tag the new model version with its family and dataset version and point the family's alias at it."""
    client = mlflow.MlflowClient()
    name = settings.registered_model_name
    for key, value in tags.items():
        client.set_model_version_tag(name, str(model_version), key, value)
    client.set_registered_model_alias(name, tags[FAMILY_TAG], str(model_version))


def publish_model_card(settings: Settings, model_version: int, card: str) -> None:
    """Log `card` as the active run's MODEL_CARD_ARTIFACT and make it the registered version's description;
    give the registered model a description of its own when it has none."""
    mlflow.log_text(card, MODEL_CARD_ARTIFACT)
    client, name = mlflow.MlflowClient(), settings.registered_model_name
    client.update_model_version(name, str(model_version), description=card)
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=describe_registered_model(name))


def pick_dataset_version(requested: str | None, announced: Sequence[str | None] = ()) -> str | None:
    """The dataset version to train on: the one asked for, else the newest announced by the triggering asset
    events, else None (= the latest published)."""
    if requested:
        return requested
    versions = [v for v in announced if v]
    return versions[-1] if versions else None


def train_or_reuse(
    family: str,
    settings: Settings,
    dataset_version: str | None,
    budget: Mapping[str, Any],
    retrain: bool = True,
) -> dict[str, Any]:
    """Train `family` on `dataset_version` (None = the latest) in this process, unless `retrain` is off and
    the family's alias already points to a version trained on it (then that version is reported with
    reused=True and nothing is registered). One tuning worker: in one process more would only take turns."""
    plan = plan_training(family, settings, dataset_version, budget, retrain)
    tune_share(plan, settings, worker=0)
    return register_best(plan, settings)
