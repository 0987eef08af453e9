"""A LightGBM model compiled with lleaves gives LightGBM's probabilities (within 1e-9) on the whole TEST
split, is compiled once per model text, compiler and CPU (a second load, or a second process, reuses the
cached object code), and a failed compile leaves nothing in the cache."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modeling import compiled_trees
from modeling.compiled_trees import cached_path, lightgbm_booster, load_compiled_trees
from modeling.families import build_lightgbm
from modeling.scoring import Scorer, arrays_of

REAL_DATASET = (
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "enriched_employee_dataset.csv"
)
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def test_split_dataset(tmp_path_factory, request):
    """The real dataset, published, when it is beside the project; else the synthetic one."""
    if not REAL_DATASET.exists():
        return request.getfixturevalue("dataset")
    from burnout_base.settings import Settings
    from etl.dataset import load_dataset
    from etl.run_etl import run_etl

    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("real-home"))
    settings.ensure_home()
    run_etl(str(REAL_DATASET), settings)
    return load_dataset(settings)


@pytest.fixture(scope="module")
def tiny_model_text(dataset) -> str:
    """A LightGBM model of 3 x 4 small trees: it compiles in a couple of seconds."""
    estimator = build_lightgbm({"n_estimators": 4, "num_leaves": 4}, seed=0)
    estimator.fit(np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train))
    return estimator.booster_.model_to_string()


def test_compiled_trees_match_lightgbm_on_the_whole_test_split(tmp_path, test_split_dataset):
    from sklearn.pipeline import Pipeline

    data = test_split_dataset
    estimator = build_lightgbm({"n_estimators": 60, "num_leaves": 15, "learning_rate": 0.1}, seed=0)
    estimator.fit(np.asarray(data.X_train, dtype=float), np.asarray(data.y_train))
    pipeline = Pipeline([("preprocessor", data.preprocessor), ("model", estimator)])
    booster = lightgbm_booster(pipeline)
    compiled = load_compiled_trees(booster.model_to_string(), tmp_path, version=1)
    matrix = np.ascontiguousarray(data.X_test, dtype=np.float64)
    assert np.abs(compiled.predict_proba(matrix) - booster.predict(matrix)).max() <= TOLERANCE
    # The service's whole path: raw records replayed by the fast path, then the compiled trees.
    scorer = Scorer(pipeline)
    assert scorer.swap_predictor(compiled.predict_proba, "compiled trees")
    numeric, categorical = arrays_of(data.test_raw)
    expected = pipeline.predict_proba(data.test_raw)
    assert np.abs(scorer.predict_model_proba(numeric, categorical) - expected).max() <= TOLERANCE


def test_a_second_load_reuses_the_cached_object_code(tmp_path, tiny_model_text, monkeypatch):
    first = load_compiled_trees(tiny_model_text, tmp_path, version=3)
    written = first.path.stat().st_mtime_ns

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiled_trees, "_compile_in_child", no_compile)
    again = load_compiled_trees(tiny_model_text, tmp_path, version=3)
    assert again.path == first.path and again.path.stat().st_mtime_ns == written
    matrix = np.random.default_rng(0).normal(size=(50, again.features))
    assert np.array_equal(again.predict_proba(matrix), first.predict_proba(matrix))


def test_a_large_batch_split_over_threads_gets_the_same_answers(tmp_path, tiny_model_text, monkeypatch):
    compiled = load_compiled_trees(tiny_model_text, tmp_path, version=4)
    calls = []
    real_predict = compiled._model.predict
    monkeypatch.setattr(
        compiled._model, "predict", lambda m, n_jobs: calls.append(n_jobs) or real_predict(m, n_jobs)
    )
    monkeypatch.setattr(compiled_trees, "batch_threads", lambda: 3)
    matrix = np.random.default_rng(1).normal(size=(7_000, compiled.features))
    split, small = compiled.predict_proba(matrix), compiled.predict_proba(matrix[:1_000])
    assert calls == [3, 1]
    assert np.array_equal(split, real_predict(matrix, n_jobs=1)) and np.array_equal(small, split[:1_000])


def test_workers_loading_one_version_at_once_compile_it_once(tmp_path, tiny_model_text):
    (tmp_path / "model.txt").write_text(tiny_model_text)
    worker = textwrap.dedent(
        f"""
        import logging, pathlib
        from modeling.compiled_trees import load_compiled_trees
        logging.basicConfig(level=logging.INFO)
        text = pathlib.Path({str(tmp_path / "model.txt")!r}).read_text()
        load_compiled_trees(text, pathlib.Path({str(tmp_path / "cache")!r}), 5)
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", worker], stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    logs = [process.communicate(timeout=300)[1] for process in workers]
    assert [process.returncode for process in workers] == [0, 0], logs
    assert sum("compiling the trees" in text for text in logs) == 1, logs
    assert sum("found in the cache" in text for text in logs) == 1, logs


def test_the_cache_key_names_the_model_text_and_the_compiler(tmp_path, tiny_model_text, monkeypatch):
    path = cached_path(tmp_path, 7, tiny_model_text)
    assert path.name.startswith("version-7-")
    # Version numbers repeat across registries: another model under the same number is another file.
    assert cached_path(tmp_path, 7, tiny_model_text + "\n") != path
    monkeypatch.setattr(compiled_trees, "installed_version", lambda name: "0.0-other")
    assert cached_path(tmp_path, 7, tiny_model_text) != path


def test_a_failed_compile_raises_and_caches_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="compiling failed"):
        load_compiled_trees("not a LightGBM model", tmp_path, version=9)
    assert not list(tmp_path.glob("*.o")) and not [p for p in tmp_path.iterdir() if p.is_dir()]
