"""Helpers shared by the serving integration tests (test_serving*.py): register a small model in a real MLflow
registry through the platform's own model_io (with what training logs beside it, when asked), wait for
conditions, free ports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline

from burnout_base.settings import Settings
from burnout_base.tracking import configure_mlflow, ensure_experiment
from etl.contract import FEATURES, TARGET, burn_rate_to_class
from etl.preprocess import build_preprocessor
from etl.synthetic import generate_synthetic


def isolated(settings: Settings, **overrides) -> Settings:
    """The session's MLflow server is shared by every test: each serving test uses its own model name."""
    name = f"burnout-risk-{uuid.uuid4().hex[:8]}"
    return settings.model_copy(update={"registered_model_name": name, **overrides})


def wait_for(condition, timeout: float = 60.0, every: float = 0.2):
    """Poll `condition()` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"condition not met within {timeout}s")


def register_synthetic_model(
    settings: Settings,
    family: str = "lightgbm",
    aliases: tuple[str, ...] = (),
    rows: int = 400,
    seed: int = 0,
) -> int:
    """Fit Pipeline(agreed preprocessor, the family's default estimator) on synthetic records, log and tag it
    as training does (modeling.model_io), point `aliases` at it; returns the version."""
    from modeling.families import FAMILIES

    frame = generate_synthetic(rows=rows, seed=seed)
    frame = frame[frame[TARGET].notna()]
    spec = FAMILIES[family]
    pipeline = Pipeline(
        [
            ("preprocessor", build_preprocessor(seed)),
            ("model", spec.build_estimator(spec.starting_params, seed)),
        ]
    )
    pipeline.fit(frame[list(FEATURES)], frame[TARGET].map(burn_rate_to_class))
    return register_fitted_model(settings, pipeline, family, aliases, frame[list(FEATURES)].head(3))


def register_fitted_model(
    settings: Settings,
    pipeline: Pipeline,
    family: str,
    aliases: tuple[str, ...],
    input_example: pd.DataFrame,
    dataset_version: str = "synthetic",
    log_extras: Callable[[], None] | None = None,
) -> int:
    """Log and tag a fitted pipeline as training does (modeling.model_io), point `aliases` at it; returns the
    version. `log_extras` logs more to the run, as training does beside the model (background sample, model
    card, importance)."""
    from modeling.model_io import log_model

    experiment = ensure_experiment(settings, settings.training_experiment)
    configure_mlflow(settings)
    with mlflow.start_run(experiment_id=experiment):
        mlflow.set_tags({"family": family, "dataset_version": dataset_version})
        mlflow.log_metrics({"test_macro_f1": 0.5, "test_accuracy": 0.6})
        if log_extras is not None:
            log_extras()
        info = log_model(pipeline, input_example, settings.registered_model_name)
    version = int(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(settings.registered_model_name, str(version), "family", family)
    client.set_model_version_tag(
        settings.registered_model_name, str(version), "dataset_version", dataset_version
    )
    for alias in aliases:
        client.set_registered_model_alias(settings.registered_model_name, alias, str(version))
    return version


def fit_like_training(family: str, split, seed: int = 42, train_rows: int | None = None) -> Pipeline:
    """The family's estimator with its starting parameters fitted on a published split's TRAIN, behind the
    split's fitted preprocessor: the pipeline training registers, without tuning. `train_rows`: fit on a
    stratified sample of that many TRAIN rows (libsvm's and KNN's cost grows with them; the estimator API,
    not the fit size, is what these tests check)."""
    import warnings

    import numpy as np
    from sklearn.model_selection import train_test_split

    from modeling.families import FAMILIES

    spec = FAMILIES[family]
    X, y = np.asarray(split.X_train, dtype=float), np.asarray(split.y_train)
    if train_rows is not None:
        X, _, y, _ = train_test_split(X, y, train_size=train_rows, stratify=y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True)'s deprecation notice
        estimator = spec.build_estimator(spec.starting_params, seed).fit(X, y)
    return Pipeline([("preprocessor", split.preprocessor), ("model", estimator)])
