"""A loaded LightGBM version answers through LightGBM while its trees compile in the background, then through
the compiled trees (with the same probabilities and explanations, and /models saying `compiled`); compiled
trees that disagree, or a compile that fails, leave it on LightGBM; a version unloaded meanwhile is freed."""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from datetime import UTC, datetime

import numpy as np
import pytest

from burnout_api.core import loaded_model as loaded_model_module
from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from burnout_api.validation import validate_records
from etl.contract import FEATURES
from modeling.compiled_trees import CompiledTrees

JOIN_S = 300  # a compile of the small test model takes seconds; a busy machine may take longer


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One cache for the module: the session's LightGBM pipeline compiles once, later tests load it."""
    return tmp_path_factory.mktemp("compiled")


def metadata(version: int = 4) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        family="lightgbm",
        run_id=None,
        dataset_version=None,
        test_metrics={},
        loaded_at=datetime.now(UTC),
    )


def test_a_lightgbm_version_swaps_to_its_compiled_trees(
    lightgbm_pipeline, synthetic_frame, raw_records, cache_dir
):
    loaded = LoadedModel(lightgbm_pipeline, metadata())
    batch = validate_records(raw_records, max_batch=100)
    explained_before = loaded.predict(batch, explain=True).explanations
    thread = loaded.compile_trees_in_background(cache_dir)
    assert loaded.metadata.compiled is False and loaded.fast.predictor == "lightgbm"
    loaded.predict(batch)  # answers while the trees compile
    thread.join(JOIN_S)
    assert loaded.metadata.compiled is True and loaded.metadata.as_dict()["compiled"] is True
    assert loaded.fast.predictor == "compiled trees"
    expected = lightgbm_pipeline.predict_proba(synthetic_frame[list(FEATURES)].head(len(raw_records)))
    assert np.abs(loaded.predict_model_proba(batch) - expected).max() <= 1e-9
    explained_after = loaded.predict(batch, explain=True).explanations
    assert explained_after.method == explained_before.method  # still LightGBM's exact pred_contrib
    for part in ("base", "contributions", "output"):
        assert np.array_equal(getattr(explained_after, part), getattr(explained_before, part))


def test_other_families_keep_their_path(knn_pipeline, cache_dir):
    loaded = LoadedModel(knn_pipeline, metadata())
    assert loaded.compile_trees_in_background(cache_dir) is None
    assert loaded.metadata.compiled is False


def test_compiled_trees_that_disagree_are_refused(monkeypatch, caplog, lightgbm_pipeline, cache_dir):
    original = CompiledTrees.predict_proba
    monkeypatch.setattr(CompiledTrees, "predict_proba", lambda self, matrix: original(self, matrix) + 1e-6)
    loaded = LoadedModel(lightgbm_pipeline, metadata())
    with caplog.at_level(logging.WARNING):
        loaded.compile_trees_in_background(cache_dir).join(JOIN_S)
    assert loaded.metadata.compiled is False and loaded.fast.predictor == "lightgbm"
    assert "disagree" in caplog.text


def test_a_failed_compile_keeps_lightgbm(monkeypatch, caplog, lightgbm_pipeline, tmp_path):
    def fail(*args):
        raise RuntimeError("compiling failed (exit 1): no memory")

    monkeypatch.setattr(loaded_model_module, "load_compiled_trees", fail)
    loaded = LoadedModel(lightgbm_pipeline, metadata())
    with caplog.at_level(logging.WARNING):
        loaded.compile_trees_in_background(tmp_path).join(JOIN_S)
    assert loaded.metadata.compiled is False and loaded.fast.predictor == "lightgbm"
    assert "compiling its trees failed: compiling failed (exit 1)" in caplog.text


def test_a_version_unloaded_while_compiling_is_freed(monkeypatch, caplog, lightgbm_pipeline, cache_dir):
    compiling, finish = threading.Event(), threading.Event()
    real_load = loaded_model_module.load_compiled_trees

    def slow_load(*args):
        compiling.set()
        finish.wait(JOIN_S)
        return real_load(*args)

    monkeypatch.setattr(loaded_model_module, "load_compiled_trees", slow_load)
    loaded = LoadedModel(lightgbm_pipeline, metadata())
    thread = loaded.compile_trees_in_background(cache_dir)
    compiling.wait(JOIN_S)
    unloaded = weakref.ref(loaded)
    del loaded  # what a hot reload does when an alias moves to another version
    gc.collect()
    assert unloaded() is None
    with caplog.at_level(logging.INFO):
        finish.set()
        thread.join(JOIN_S)
    assert not thread.is_alive() and "unloaded before its compiled trees were ready" in caplog.text


@pytest.mark.parametrize("enabled", [True, False])
def test_the_store_compiles_what_it_loads_when_the_setting_is_on(
    monkeypatch, make_settings, lightgbm_pipeline, enabled
):
    from burnout_api.core.model_store import ModelStore

    described = {"model_version": 6, "family": "lightgbm", "run_id": None, "dataset_version": None}
    monkeypatch.setattr("modeling.model_io.describe_version", lambda *a: {**described, "test_metrics": {}})
    started = []
    monkeypatch.setattr(LoadedModel, "compile_trees_in_background", lambda self, cache: started.append(cache))
    settings = make_settings(compiled_trees=enabled)
    store = ModelStore(settings, loader=lambda uri: lightgbm_pipeline)
    store._client = object()  # describe_version is replaced: no registry is read
    assert store.load_version(6).metadata.version == 6
    assert started == ([settings.compiled_cache_dir] if enabled else [])
