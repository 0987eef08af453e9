"""The prediction log: every answered prediction, one row per record, as date-partitioned Parquet in the lake
(`monitoring.daily_parquet`: one new file per flush and date, never rewritten, so writers never contend).
The row schema is `SCHEMA`: who asked (request id, protocol, alias), what answered (model version, and the
replica), the answer (class and the probability of each class) and the raw record in the dataset's own
column names. Columns are only added, so every reader reads every file ever written.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from etl.contract import BY_NAME, CLASSES, FEATURES
from etl.lake import Lake
from monitoring.daily_parquet import append_by_day, frame_to_table, read_days

REQUEST_ID = "request_id"
RECORD_INDEX = "record_index"
LOGGED_AT = "logged_at"
PROTOCOL = "protocol"
ALIAS = "alias"
MODEL_VERSION = "model_version"
PREDICTED_CLASS = "predicted_class"
REPLICA = "replica"
EMPLOYEE_ID = "employee_id"
ROLE = "role"  # "served": the answer the client got; "shadow": a challenger's, never sent
SERVED, SHADOW = "served", "shadow"
PROBABILITY_COLUMNS = tuple(f"proba_{c}" for c in CLASSES)


def _feature_type(name: str) -> pa.DataType:
    return pa.string() if BY_NAME[name].kind == "category" else pa.float64()


# Columns are only ever added, at the end, never renamed, retyped or removed: files written earlier stay
# in the lake for good, and read_predictions fills what they lack with null
# (tests/unit/monitoring/test_prediction_log_schema.py holds the columns of every release).
SCHEMA = pa.schema(
    [
        (REQUEST_ID, pa.string()),
        (RECORD_INDEX, pa.int32()),
        (LOGGED_AT, pa.timestamp("us", tz="UTC")),
        (PROTOCOL, pa.string()),
        (ALIAS, pa.string()),
        (MODEL_VERSION, pa.int64()),
        (PREDICTED_CLASS, pa.string()),
        *[(name, pa.float64()) for name in PROBABILITY_COLUMNS],
        *[(name, _feature_type(name)) for name in FEATURES],
        (REPLICA, pa.string()),  # issue 22: the API replica (or stream worker) that answered
        (EMPLOYEE_ID, pa.string()),  # issue 24: the record's Employee ID, when sent (never a model input)
        (ROLE, pa.string()),  # issue 24: served or shadow (null in earlier files: served)
    ]
)


def write_predictions(lake: Lake, bucket: str, table: pa.Table | pd.DataFrame) -> list[str]:
    """Append rows in `SCHEMA` (a table or a frame with its columns; one it lacks is written null, as
    `conform` reads it) to the log: one new file per date present in `logged_at`. Returns the keys written."""
    if isinstance(table, pd.DataFrame):
        table = frame_to_table(table, SCHEMA)
    return append_by_day(lake, bucket, table, SCHEMA, LOGGED_AT)


def read_predictions(lake: Lake, bucket: str, start: date, end: date) -> pd.DataFrame:
    """Every logged row of the dates from `start` to `end` (both included), in `SCHEMA`'s columns, whatever
    release wrote them (see `daily_parquet.conform`)."""
    return read_days(lake, bucket, SCHEMA, start, end)
