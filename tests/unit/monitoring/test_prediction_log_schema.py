"""The prediction log's columns are only ever added: every column a release wrote keeps its name, type and
place, and files written by an earlier release (without the later columns) still read, through
read_predictions and check_drift, with the missing columns null."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from burnout_base.settings import Settings
from etl.contract import FEATURES, TARGET, burn_rate_to_class
from etl.lake import LocalLake, lake_from_settings
from etl.synthetic import generate_synthetic
from monitoring import drift
from monitoring.daily_parquet import partition_key
from monitoring.prediction_log import (
    PREDICTED_CLASS,
    REPLICA,
    SCHEMA,
    read_predictions,
    write_predictions,
)

# Spelled out on purpose, not derived from the contract: this list is what files in lakes already hold, so a
# change to a column's name or type in the code must fail here. Append a release's new columns; never edit.
ISSUE_13_COLUMNS = [
    ("request_id", pa.string()),
    ("record_index", pa.int32()),
    ("logged_at", pa.timestamp("us", tz="UTC")),
    ("protocol", pa.string()),
    ("alias", pa.string()),
    ("model_version", pa.int64()),
    ("predicted_class", pa.string()),
    ("proba_Low", pa.float64()),
    ("proba_Medium", pa.float64()),
    ("proba_High", pa.float64()),
    ("Gender", pa.string()),
    ("Company Type", pa.string()),
    ("WFH Setup Available", pa.string()),
    ("Designation", pa.float64()),
    ("Resource Allocation", pa.float64()),
    ("Mental Fatigue Score", pa.float64()),
    ("Work Hours per Week", pa.float64()),
    ("Sleep Hours", pa.float64()),
    ("Work-Life Balance Score", pa.float64()),
    ("Manager Support Score", pa.float64()),
    ("Deadline Pressure Score", pa.float64()),
    ("Team Size", pa.float64()),
    ("Recognition Frequency", pa.float64()),
]
ISSUE_22_COLUMNS = [("replica", pa.string())]
ISSUE_24_COLUMNS = [("employee_id", pa.string()), ("role", pa.string())]
RELEASED_COLUMNS = ISSUE_13_COLUMNS + ISSUE_22_COLUMNS + ISSUE_24_COLUMNS
DAY = date(2026, 3, 2)


def test_every_released_column_keeps_its_name_type_and_place():
    written = [(field.name, field.type) for field in SCHEMA]
    assert written[: len(RELEASED_COLUMNS)] == RELEASED_COLUMNS, (
        "prediction-log columns may only be added at the end: files already in the lake hold these"
    )


def logged_traffic(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic records as the service logs them, each answered with its true class."""
    frame = generate_synthetic(rows, seed)
    frame = frame[frame[TARGET].notna()].reset_index(drop=True)
    frame[PREDICTED_CLASS] = frame[TARGET].map(burn_rate_to_class)
    return frame.assign(
        request_id=[f"r{seed}-{i}" for i in range(len(frame))],
        record_index=0,
        logged_at=datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC),
        protocol="rest",
        alias="champion",
        model_version=1,
        proba_Low=0.5,
        proba_Medium=0.3,
        proba_High=0.2,
    )


def write_issue_13_file(lake: LocalLake, frame: pd.DataFrame) -> None:
    """A log file exactly as the writer before issue 22 made it: its schema, no `replica` column."""
    old = pa.schema(ISSUE_13_COLUMNS)
    table = pa.Table.from_pandas(frame[old.names], schema=old, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    lake.write_bytes("predictions", partition_key(DAY), buffer.getvalue())


def test_files_written_before_a_column_was_added_read_with_it_null(tmp_path):
    lake = LocalLake(tmp_path)
    old, new = logged_traffic(30, seed=1), logged_traffic(20, seed=2)
    write_issue_13_file(lake, old)
    write_predictions(lake, "predictions", new.assign(replica="api-7f3c"))

    logged = read_predictions(lake, "predictions", DAY, DAY)

    assert list(logged.columns) == SCHEMA.names and len(logged) == len(old) + len(new)
    by_age = logged.set_index("request_id")
    assert by_age.loc[old["request_id"], REPLICA].isna().all()
    assert (by_age.loc[new["request_id"], REPLICA] == "api-7f3c").all()
    old_back = by_age.loc[old["request_id"]].reset_index()
    for column in ("request_id", PREDICTED_CLASS, *FEATURES):
        pd.testing.assert_series_equal(old_back[column], old[column], check_dtype=False, check_names=False)


def test_a_file_from_a_newer_writer_reads_without_its_unknown_columns(tmp_path):
    lake = LocalLake(tmp_path)
    newer = logged_traffic(5, seed=3).assign(replica="api-1", employee_id=None, role="served")
    table = pa.Table.from_pandas(newer[SCHEMA.names], schema=SCHEMA, preserve_index=False)
    table = table.append_column("a_later_column", pa.array(range(len(newer)), pa.int64()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    lake.write_bytes("predictions", partition_key(DAY), buffer.getvalue())

    logged = read_predictions(lake, "predictions", DAY, DAY)

    assert list(logged.columns) == SCHEMA.names and list(logged[REPLICA]) == ["api-1"] * len(newer)


def test_check_drift_reads_a_window_of_old_and_new_files(tmp_path, monkeypatch):
    settings = Settings(_env_file=None, home=tmp_path, drift_min_rows=200)
    settings.ensure_home()
    lake = lake_from_settings(settings)
    old, new = logged_traffic(300, seed=4), logged_traffic(300, seed=5)
    write_issue_13_file(lake, old)
    write_predictions(lake, settings.predictions_bucket, new.assign(replica="api-2"))
    reference = logged_traffic(600, seed=6)[[*FEATURES, PREDICTED_CLASS]]
    # The champion and its training split come from MLflow in the stack; here, the same synthetic records.
    champion = {"model_version": 1, "dataset_version": "synthetic"}
    monkeypatch.setattr(drift, "load_reference", lambda _: (champion, reference))
    monkeypatch.setattr(drift, "log_drift_run", lambda *_: "no-mlflow-here")

    summary = drift.check_drift(settings, start=DAY, end=DAY)

    assert summary["status"] == "checked" and summary["rows"] == len(old) + len(new)
    assert summary["drift"] is False and summary["mlflow_run_id"] == "no-mlflow-here"
