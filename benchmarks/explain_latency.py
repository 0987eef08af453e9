"""What an explanation costs (issue 14): one record through the service's core and JSON rendering, with
`explain` and without, alternating call by call in one process so that both see the same machine at the same
moment. The model is a LightGBM (exact TreeSHAP): the registry's `lightgbm` alias in `make bench`; run alone
(`python -m benchmarks.explain_latency`) it trains one with the family's starting parameters on the real
dataset (synthetic without it) when the registry has none. Target: single-digit milliseconds."""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cases import EXPLAIN, INPROC_EXPLAIN_1, NO_EXPLAIN
from benchmarks.measurement import Measurement, summarize_latencies
from benchmarks.records import service_body, single_record_bodies
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
CALLS = 2_000
WARMUP_CALLS = 50
ALIAS = "lightgbm"


class OneModelStore:
    """The ModelStore interface over one pipeline in memory: the service's core without a registry."""

    name = "benchmark"

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def fetch_aliases(self) -> dict[str, int]:
        return {ALIAS: 1}

    def load_version(self, version: int):
        from burnout_api.core import LoadedModel, ModelMetadata

        metadata = ModelMetadata(version, ALIAS, None, None, {}, datetime.now(UTC))
        return LoadedModel(self.pipeline, metadata)


def measure_explanation_latency(
    pipeline, records: pd.DataFrame, settings: Settings, calls: int = CALLS
) -> list[Measurement]:
    """Latency of `InferenceCore.predict` + the JSON answer for single records (cycling through `records`,
    missing values included), `calls` times with explain and `calls` times without; the prediction log off,
    as it is the same for both."""
    from burnout_api.core import InferenceCore
    from burnout_api.rendering import render_prediction_json

    core = InferenceCore(
        settings.model_copy(update={"prediction_log_enabled": False}), store=OneModelStore(pipeline)
    )
    core.refresh()
    explainer = core.snapshot.models[ALIAS].explainer
    if explainer is None or not explainer.exact:
        raise ValueError(f"the model is not explained exactly (explainer: {explainer}): not a LightGBM?")
    bodies = [body.encode() for body in single_record_bodies(records, service_body)]

    def answer(body: bytes, explain: bool) -> bytes:
        return render_prediction_json(core.predict(body, ALIAS, explain=explain), ALIAS)

    for index in range(WARMUP_CALLS):
        for explain in (False, True):
            answer(bodies[index % len(bodies)], explain)
    latencies: dict[bool, list[float]] = {False: [], True: []}
    for index in range(calls):
        body = bodies[index % len(bodies)]
        for explain in (True, False) if index % 2 else (False, True):  # neither always goes first
            started = time.perf_counter()
            answer(body, explain)
            latencies[explain].append(time.perf_counter() - started)
    results = [
        summarize_latencies(INPROC_EXPLAIN_1, server, latencies[explain], sum(latencies[explain]))
        for server, explain in ((NO_EXPLAIN, False), (EXPLAIN, True))
    ]
    for result in results:
        log.info(
            "%s (%s): p50 %.3f ms, p99 %.3f ms", result.setting, result.server, result.p50_ms, result.p99_ms
        )
    return results


def load_registered_lightgbm(settings: Settings):
    """The pipeline behind the registry's `lightgbm` alias, or None when there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import load_model

    configure_mlflow(settings)
    try:
        mlflow.MlflowClient().get_model_version_by_alias(settings.registered_model_name, ALIAS)
    except MlflowException:
        return None
    return load_model(f"models:/{settings.registered_model_name}@{ALIAS}")


def train_lightgbm(settings: Settings, folder: Path):
    """A LightGBM with its family's starting parameters on the TRAIN split of the real dataset (synthetic
    without it), published by the ETL into `folder`; returns (pipeline, TEST records)."""
    from sklearn.pipeline import Pipeline

    from benchmarks.data import resolve_dataset
    from etl.contract import FEATURES
    from etl.dataset import load_dataset
    from etl.run_etl import run_etl
    from modeling.families import FAMILIES

    home = settings.model_copy(update={"home": folder, "lake_root": folder / "lake", "lake_backend": "local"})
    home.ensure_home()
    path, kind = resolve_dataset(folder, settings.seed)
    log.info("training a LightGBM on %s data (%s)", kind, path)
    run_etl(str(path), home)
    split = load_dataset(home)
    spec = FAMILIES[ALIAS]
    X, y = np.asarray(split.X_train, dtype=float), np.asarray(split.y_train)  # as modeling.train fits
    estimator = spec.build_estimator(spec.starting_params, settings.seed).fit(X, y)
    pipeline = Pipeline([("preprocessor", split.preprocessor), ("model", estimator)])
    return pipeline, split.test_raw.loc[:, list(FEATURES)]


def main(calls: int = CALLS) -> None:
    """Measure on the registry's LightGBM and its dataset's TEST records, else on a freshly trained one."""
    import typer
    from threadpoolctl import threadpool_limits

    from benchmarks.records import load_sample_records
    from benchmarks.report import format_table
    from burnout_base.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    with tempfile.TemporaryDirectory() as folder, threadpool_limits(1):  # as `burnout serve` runs
        pipeline = load_registered_lightgbm(settings)
        if pipeline is None:
            pipeline, records = train_lightgbm(settings, Path(folder))
        else:
            records, _ = load_sample_records(settings, None, 1_000)
        rows = [m.to_dict() for m in measure_explanation_latency(pipeline, records, settings, calls)]
    for row in rows:
        row["ratio_vs_mlflow"] = None
    typer.echo(format_table(rows))


if __name__ == "__main__":
    import typer

    typer.run(main)
