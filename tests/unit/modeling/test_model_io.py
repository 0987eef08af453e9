"""The logged model: a raw-input Pipeline saved with skops, a contract-derived signature, explicit pins."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from burnout_base.tracking import ensure_experiment
from etl.contract import FEATURES, NULLABLE_FEATURES
from modeling.model_io import TRUSTED_TYPES, build_signature, load_model, log_model, pip_requirements


def test_build_signature_takes_raw_features_with_nullable_ones_optional():
    inputs = {spec.name: spec for spec in build_signature().inputs.inputs}
    assert list(inputs) == list(FEATURES)
    assert {name for name, spec in inputs.items() if not spec.required} == set(NULLABLE_FEATURES)
    assert inputs["Gender"].type.name == "string"
    assert inputs["Mental Fatigue Score"].type.name == "double"


def test_pip_requirements_pin_the_installed_versions():
    pins = dict(line.split("==") for line in pip_requirements())
    assert pins["scikit-learn"] == version("scikit-learn")
    assert pins["lightgbm"] == version("lightgbm")
    assert pins["skops"] == version("skops")


def test_log_model_registers_a_skops_model_that_load_model_restores(
    published_settings, dataset, make_pipeline
):
    settings = published_settings.model_copy(update={"registered_model_name": "io-roundtrip"})
    pipeline = make_pipeline(KNeighborsClassifier(n_neighbors=7))
    with mlflow.start_run(experiment_id=ensure_experiment(settings, "io-test")):
        info = log_model(pipeline, dataset.train_raw.head(3), settings.registered_model_name)
    assert int(info.registered_model_version) == 1

    flavor = info.flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"
    assert flavor["skops_trusted_types"] == TRUSTED_TYPES
    assert info.signature == build_signature()

    restored = load_model("models:/io-roundtrip/1")
    np.testing.assert_array_equal(restored.predict(dataset.test_raw), pipeline.predict(dataset.test_raw))
    record = dataset.test_raw.head(1).copy()
    record[list(NULLABLE_FEATURES)] = np.nan
    assert restored.predict_proba(record).shape == (1, 3)


def test_log_model_stores_raw_records_as_input_example(published_settings, dataset, make_pipeline, tmp_path):
    pipeline = make_pipeline(KNeighborsClassifier(n_neighbors=5))
    with mlflow.start_run(experiment_id=ensure_experiment(published_settings, "io-test")):
        info = log_model(pipeline, dataset.train_raw.head(2), registered_model_name=None)
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path)))
    example = json.loads((local / "input_example.json").read_text())
    assert example["columns"] == list(FEATURES)
    assert len(example["data"]) == 2
    assert "mlflow==" in (local / "requirements.txt").read_text()


def test_load_model_refuses_a_pickled_model(published_settings, make_pipeline):
    pipeline = make_pipeline(KNeighborsClassifier(n_neighbors=3))
    with mlflow.start_run(experiment_id=ensure_experiment(published_settings, "io-test")):
        info = mlflow.sklearn.log_model(
            pipeline, name="model", serialization_format="cloudpickle", pip_requirements=pip_requirements()
        )
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_model(info.model_uri)


def test_trusted_types_cover_the_preprocessor(dataset):
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(dataset.preprocessor))
    assert set(untrusted) <= set(TRUSTED_TYPES)
