"""Fixtures for the serving unit tests: small pipelines fitted on synthetic records (the agreed preprocessor
and real estimators) and an in-memory registry standing in for MLflow (integration tests use a real one)."""

from __future__ import annotations

import threading
import warnings
from datetime import UTC, datetime

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from burnout_api.core.loaded_model import LoadedModel, ModelMetadata
from etl.contract import FEATURES, TARGET, burn_rate_to_class
from etl.preprocess import build_preprocessor
from etl.synthetic import generate_synthetic


@pytest.fixture(scope="session")
def synthetic_frame() -> pd.DataFrame:
    """Raw feature columns (missing values included) plus the class label, 600 synthetic records."""
    frame = generate_synthetic(rows=600, seed=7)
    frame = frame[frame[TARGET].notna()].reset_index(drop=True)
    return frame.assign(label=frame[TARGET].map(burn_rate_to_class))


def fit_pipeline(
    frame: pd.DataFrame, estimator, labels: pd.Series | None = None, preprocessor=None
) -> Pipeline:
    """Pipeline(agreed preprocessor, estimator) fitted on `frame`; pass a fitted preprocessor to reuse it."""
    if preprocessor is None:
        preprocessor = build_preprocessor(0).fit(frame[list(FEATURES)])
    estimator.fit(preprocessor.transform(frame[list(FEATURES)]), frame["label"] if labels is None else labels)
    return Pipeline([("preprocessor", preprocessor), ("model", estimator)])


@pytest.fixture(scope="session")
def synthetic_preprocessor(synthetic_frame):
    return build_preprocessor(0).fit(synthetic_frame[list(FEATURES)])


@pytest.fixture(scope="session")
def fit_model():
    """fit_pipeline(frame, estimator, labels=None, preprocessor=None)."""
    return fit_pipeline


@pytest.fixture(scope="session")
def lightgbm_pipeline(synthetic_frame, synthetic_preprocessor) -> Pipeline:
    from lightgbm import LGBMClassifier

    return fit_pipeline(
        synthetic_frame,
        LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0),
        preprocessor=synthetic_preprocessor,
    )


@pytest.fixture(scope="session")
def knn_pipeline(synthetic_frame, synthetic_preprocessor) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier

    return fit_pipeline(
        synthetic_frame,
        KNeighborsClassifier(n_neighbors=7, weights="distance"),
        preprocessor=synthetic_preprocessor,
    )


@pytest.fixture(scope="session")
def svm_pipeline(synthetic_frame, synthetic_preprocessor) -> Pipeline:
    from sklearn.svm import SVC

    with (
        warnings.catch_warnings()
    ):  # SVC(probability=True) is what modeling trains; its deprecation is theirs
        warnings.simplefilter("ignore", FutureWarning)
        return fit_pipeline(
            synthetic_frame, SVC(probability=True, random_state=0), preprocessor=synthetic_preprocessor
        )


@pytest.fixture(scope="session")
def synthetic_background(synthetic_frame) -> tuple:
    """The background sample training would log for these records, as the arrays the service loads."""
    from modeling.explain import select_background
    from modeling.scoring import arrays_of

    return arrays_of(select_background(synthetic_frame, synthetic_frame["label"], seed=0))


@pytest.fixture
def raw_records(synthetic_frame) -> list[dict]:
    """Records as a client sends them: dataset column names, missing values as null."""
    frame = synthetic_frame[list(FEATURES)].head(40).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


class FakeStore:
    """The ModelStore interface over dicts (alias -> version -> pipeline); can be made unreachable."""

    name = "burnout-risk"

    def __init__(
        self,
        pipelines: dict[int, Pipeline] | None = None,
        aliases: dict[str, int] | None = None,
        backgrounds: dict[int, tuple] | None = None,
    ):
        self.pipelines = dict(pipelines or {})
        self.aliases = dict(aliases or {})
        self.backgrounds = dict(backgrounds or {})  # version -> the background sample its run logged
        self.reachable = True
        self.loads: list[int] = []
        self.load_gate: threading.Event | None = None  # set by a test to hold a load half-way
        self.fetch_gate: threading.Event | None = None  # set by a test to make the registry hang
        self.fetches = 0

    def fetch_aliases(self) -> dict[str, int]:
        self.fetches += 1
        if self.fetch_gate is not None:
            self.fetch_gate.wait(30)
        if not self.reachable:
            raise ConnectionError("MLflow is down")
        return dict(self.aliases)

    def load_version(self, version: int) -> LoadedModel:
        if not self.reachable:
            raise ConnectionError("MLflow is down")
        if self.load_gate is not None:
            self.load_gate.wait(10)
        self.loads.append(version)
        metadata = ModelMetadata(
            version=version,
            family=f"family-{version}",
            run_id=f"run-{version}",
            dataset_version="ds-1",
            test_metrics={"macro_f1": 0.5 + version / 100},
            loaded_at=datetime.now(UTC),
        )
        background = self.backgrounds.get(version)
        return LoadedModel(
            self.pipelines[version],
            metadata,
            load_background=None if background is None else (lambda: background),
        )


@pytest.fixture
def make_store():
    """Build a FakeStore(pipelines={version: pipeline}, aliases={alias: version})."""
    return FakeStore


@pytest.fixture
def make_core(make_settings):
    """An InferenceCore over a FakeStore (not started: tests call refresh() or start() themselves);
    `on_demand_refresh_s` as the core takes it, the other keywords are settings."""
    from burnout_api.core import InferenceCore

    cores = []

    def build(store: FakeStore, on_demand_refresh_s: float | None = None, **overrides):
        interval = {} if on_demand_refresh_s is None else {"on_demand_refresh_s": on_demand_refresh_s}
        core = InferenceCore(make_settings(**overrides), store=store, **interval)
        cores.append(core)
        return core

    yield build
    for core in cores:
        core.stop()
