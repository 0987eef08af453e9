"""The records both servers score, and their request bodies: our service takes a JSON list of raw records,
MLflow's scoring server a `dataframe_split` document. Same rows, same order, for both."""

from __future__ import annotations

import logging
import numbers

import pandas as pd

from burnout_base.settings import Settings
from etl.contract import CLASSES, FEATURES

log = logging.getLogger(__name__)
SINGLE_RECORDS = 256  # distinct single-record bodies each load generator cycles through


def load_sample_records(
    settings: Settings, dataset_version: str | None, rows: int
) -> tuple[pd.DataFrame, str]:
    """`rows` raw feature records from the TEST split of the champion's dataset (missing values included, as
    in real traffic), repeated when the split is smaller; synthetic records only when no dataset can be read.
    Returns the records and where they came from."""
    from etl.dataset import load_dataset

    try:
        frame = load_dataset(settings, version=dataset_version).test_raw
        source = f"test split of dataset {dataset_version or 'latest'}"
    except Exception as exc:  # a champion without its dataset (e.g. registered elsewhere) can still be served
        from etl.synthetic import generate_synthetic

        log.warning("cannot read dataset %s (%s); benchmarking on synthetic records", dataset_version, exc)
        frame, source = generate_synthetic(rows=rows, seed=settings.seed), "synthetic"
    frame = frame.loc[:, list(FEATURES)]
    if frame.empty:
        raise ValueError(f"no records to benchmark with ({source})")
    repeats = -(-rows // len(frame))
    return pd.concat([frame] * repeats, ignore_index=True).iloc[:rows].reset_index(drop=True), source


def service_body(records: pd.DataFrame) -> str:
    """Our `/predict` body: a JSON list of records keyed by the dataset's column names, NaN as null."""
    return records.to_json(orient="records")


def mlflow_body(records: pd.DataFrame) -> str:
    """MLflow's `/invocations` body: {"dataframe_split": {"columns": [...], "data": [[...], ...]}}."""
    return '{"dataframe_split": ' + records.to_json(orient="split", index=False) + "}"


def missing_share(records: pd.DataFrame) -> float:
    """Share of records with at least one missing value (the model imputes them)."""
    return float(records.isna().any(axis=1).mean())


def single_record_bodies(records: pd.DataFrame, render, count: int = SINGLE_RECORDS) -> list[str]:
    """One body per record for the first `count` records; wrk cycles through them so no answer is cached."""
    return [render(records.iloc[[i]]) for i in range(min(count, len(records)))]


def class_name(prediction: object) -> str:
    """A class label as its name: models may be trained on the names or on their positions in CLASSES."""
    if isinstance(prediction, dict):  # some flavours wrap each row's output
        prediction = next(iter(prediction.values()))
    if isinstance(prediction, numbers.Real) and not isinstance(prediction, bool):
        return CLASSES[int(prediction)]
    return str(prediction)
