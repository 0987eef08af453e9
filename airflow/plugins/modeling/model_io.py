"""Logging and loading the served model: one sklearn Pipeline (fitted preprocessor + estimator) that takes RAW
feature columns, saved with skops (no pickle) and an explicit signature derived from the data contract."""

from __future__ import annotations

import logging
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import ColSpec, Schema
from sklearn.pipeline import Pipeline

from etl.contract import BY_NAME, FEATURES
from etl.preprocess import PREPROCESSOR_TRUSTED_TYPES
from modeling.families import FAMILIES
from modeling.registry_names import DATASET_VERSION_TAG, FAMILY_TAG
from modeling.weighted_vote import ENSEMBLE_TRUSTED_TYPES

log = logging.getLogger(__name__)

ARTIFACT_NAME = "model"
# Everything skops must be told to trust, beyond its defaults, to load any model this platform logs.
# The ensemble votes with the families' estimators, so it only adds its own voting types.
TRUSTED_TYPES: list[str] = sorted(
    {
        *PREPROCESSOR_TRUSTED_TYPES,
        *(name for family in FAMILIES.values() for name in family.trusted_types),
        *ENSEMBLE_TRUSTED_TYPES,
    }
)
# The distributions a model needs to load and predict; listed so MLflow does not spend ~15 s inferring them.
RUNTIME_PACKAGES = ("mlflow", "scikit-learn", "skops", "lightgbm", "numpy", "pandas", "scipy")
_SCHEMA_TYPES = {"category": "string", "integer": "long", "float": "double"}


def pip_requirements() -> list[str]:
    """Exact pins of the runtime packages as installed in this process."""
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]


def build_signature() -> ModelSignature:
    """Inputs = the raw FEATURES with their contract types (nullable ones optional); output = the class."""
    inputs = Schema(
        [
            ColSpec(_SCHEMA_TYPES[BY_NAME[name].kind], name, required=not BY_NAME[name].nullable)
            for name in FEATURES
        ]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("string")]))


def log_model(pipeline: Pipeline, input_example: pd.DataFrame, registered_model_name: str) -> ModelInfo:
    """Log `pipeline` to the active run and register it as a new version of `registered_model_name`."""
    with warnings.catch_warnings():
        # MLflow re-infers a schema from the example and warns about integer columns; ours comes from the
        # contract and already types them, so the hint does not apply.
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        return _log_sklearn_model(pipeline, input_example, registered_model_name)


def _log_sklearn_model(
    pipeline: Pipeline, input_example: pd.DataFrame, registered_model_name: str
) -> ModelInfo:
    return mlflow.sklearn.log_model(
        pipeline,
        name=ARTIFACT_NAME,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=TRUSTED_TYPES,
        signature=build_signature(),
        input_example=input_example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )


def load_model(model_uri: str) -> Pipeline:
    """Load a logged model (e.g. `models:/burnout-risk@champion`) as the sklearn Pipeline.

    The skops allow-list is this code's TRUSTED_TYPES, not the list stored in the artifact's MLmodel file, so
    a tampered artifact cannot widen what gets deserialized.
    """
    import skops.io

    with tempfile.TemporaryDirectory(prefix="burnout-model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        flavor = Model.load(str(local / "MLmodel")).flavors["sklearn"]
        if flavor.get("serialization_format") != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
            raise ValueError(f"{model_uri} is not a skops-serialized model; refusing to unpickle it")
        pipeline = skops.io.load(local / flavor["pickled_model"], trusted=TRUSTED_TYPES)
    log.info("loaded %s", model_uri)
    return pipeline


TEST_METRIC_PREFIX = "test_"


def describe_version(client: mlflow.MlflowClient, name: str, version: int | str) -> dict:
    """What the registry and the training run say about a registered version, in the one shape every caller
    uses: {family, model_version, run_id, dataset_version, cv_macro_f1, cv_macro_f1_std, test_metrics}
    (test_metrics without the "test_" prefix of the run's metric names, as training returns them, CI bounds
    and calibration included when logged; a CV figure the run did not log is None)."""
    model_version = client.get_model_version(name, str(version))
    tags = dict(model_version.tags or {})
    run_tags, metrics = {}, {}
    if model_version.run_id:
        run = client.get_run(model_version.run_id)
        run_tags, metrics = run.data.tags, run.data.metrics
    return {
        "family": tags.get(FAMILY_TAG) or run_tags.get(FAMILY_TAG),
        "model_version": int(model_version.version),
        "run_id": model_version.run_id,
        "dataset_version": tags.get(DATASET_VERSION_TAG) or run_tags.get(DATASET_VERSION_TAG),
        "cv_macro_f1": metrics.get("cv_macro_f1"),
        "cv_macro_f1_std": metrics.get("cv_macro_f1_std"),
        "test_metrics": {
            key.removeprefix(TEST_METRIC_PREFIX): value
            for key, value in metrics.items()
            if key.startswith(TEST_METRIC_PREFIX)
        },
    }
