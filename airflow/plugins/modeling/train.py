"""Training one family end to end: tune on TRAIN, refit the best parameters on all of TRAIN, evaluate once on
TEST through the raw-input model, log everything to MLflow and register the model under the family's alias;
or reuse the family's version when it was already trained on the dataset version asked for."""

from __future__ import annotations

import logging
import subprocess
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from burnout_base.plain import to_plain
from burnout_base.settings import Settings
from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.contract import NULLABLE_FEATURES
from etl.dataset import ProcessedDataset, load_dataset
from modeling.evaluate import evaluate_model, log_evaluation
from modeling.families import get_family
from modeling.model_io import log_model
from modeling.registry import find_trained_version
from modeling.registry_names import DATASET_VERSION_TAG, FAMILY_TAG
from modeling.tune import study_name, tune_family

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
    """Tune, fit, evaluate and register `family` on a published dataset (default: the latest).

    Returns family, run_id, model_version, dataset_version, cv_macro_f1, test_metrics and seconds.
    """
    started = time.monotonic()
    spec = get_family(family)
    dataset = load_dataset(settings, dataset_version)
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    configure_mlflow(settings)
    tags = {FAMILY_TAG: spec.name, DATASET_VERSION_TAG: dataset.version, "git_commit": read_git_commit()}

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}-{dataset.version}") as run:
        mlflow.set_tags({**tags, "optuna_study": study_name(spec.name, dataset.version)})
        log_dataset_inputs(dataset)
        study = tune_family(
            spec, dataset.X_train, dataset.y_train, settings, dataset.version, trials, timeout
        )
        best = study.best_trial
        params = best.user_attrs["params"]
        mlflow.log_params(params)
        mlflow.log_metrics({"cv_macro_f1": best.value, "optuna_trials": len(study.trials)})

        # Refit on all of TRAIN, as the arrays the preprocessor hands the estimator inside the Pipeline.
        estimator = spec.build_estimator(params, settings.seed)
        estimator.fit(np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train))
        pipeline = Pipeline([("preprocessor", dataset.preprocessor), ("model", estimator)])
        evaluation = evaluate_model(pipeline, dataset.test_raw, dataset.y_test)
        log_evaluation(evaluation)
        info = log_model(pipeline, select_input_example(dataset.train_raw), settings.registered_model_name)

    model_version = int(info.registered_model_version)
    register_version(settings, model_version, tags)
    summary = {
        "family": spec.name,
        "run_id": run.info.run_id,
        "model_version": model_version,
        "dataset_version": dataset.version,
        "cv_macro_f1": best.value,
        "best_params": params,
        "test_metrics": evaluation.metrics,
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info(
        "trained %s v%d: cv macro-F1 %.4f, test macro-F1 %.4f in %.0fs",
        spec.name,
        model_version,
        best.value,
        evaluation.metrics["macro_f1"],
        summary["seconds"],
    )
    return summary


def register_version(settings: Settings, model_version: int, tags: dict[str, str]) -> None:
    """Tag the new model version with its family and dataset version and point the family's alias at it."""
    client = mlflow.MlflowClient()
    name = settings.registered_model_name
    for key in ("family", "dataset_version", "git_commit"):
        client.set_model_version_tag(name, str(model_version), key, tags[key])
    client.set_registered_model_alias(name, tags[FAMILY_TAG], str(model_version))


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
    """Train `family` on `dataset_version`, unless `retrain` is off and the family's alias already points to a
    version trained on it (then that version is reported with reused=True and nothing is registered)."""
    if not retrain and dataset_version:
        existing = find_trained_version(settings, family, dataset_version)
        if existing is not None:
            log.info(
                "%s: version %s already trained on dataset %s; reusing it (retrain to train again)",
                family,
                existing["model_version"],
                dataset_version,
            )
            return existing
    result = train_family(
        family,
        settings,
        dataset_version=dataset_version,
        trials=budget.get("trials"),
        timeout=budget.get("timeout_s"),
    )
    return {**to_plain(result), "reused": False}
