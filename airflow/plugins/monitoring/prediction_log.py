"""The prediction log: every answered prediction, one row per record, as date-partitioned Parquet in the lake.

Layout: `<predictions_bucket>/date=YYYY-MM-DD/part-<UTC time>-<random>.parquet`, one file per flush and date,
never rewritten, so writers (the API's background logger, stream workers, several replicas) never contend.
The row schema is `SCHEMA`: who asked (request id, protocol, alias), what answered (model version, and the
replica), the answer (class and the probability of each class) and the raw record in the dataset's own
column names. Columns are only added, so every reader reads every file ever written.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from etl.contract import BY_NAME, CLASSES, FEATURES
from etl.lake import Lake

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
_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet")


def partition_key(day: date) -> str:
    """A new, unique object key in the partition of `day`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"date={day.isoformat()}/part-{stamp}-{secrets.token_hex(4)}.parquet"


def write_predictions(lake: Lake, bucket: str, table: pa.Table | pd.DataFrame) -> list[str]:
    """Append rows in `SCHEMA` (a table or a frame with its columns; one it lacks is written null, as
    `conform` reads it) to the log: one new file per date present in `logged_at`. Returns the keys written."""
    if isinstance(table, pd.DataFrame):
        present = pa.schema([field for field in SCHEMA if field.name in table.columns])
        table = pa.Table.from_pandas(table[present.names], schema=present, preserve_index=False)
    table = conform(table)
    if table.num_rows == 0:
        return []
    days = pa.compute.strftime(table[LOGGED_AT], format="%Y-%m-%d")
    keys = []
    for day in sorted(set(days.to_pylist())):
        part = table.filter(pa.compute.equal(days, day))
        buffer = io.BytesIO()
        pq.write_table(part, buffer)
        key = partition_key(date.fromisoformat(day))
        lake.write_bytes(bucket, key, buffer.getvalue())
        keys.append(key)
    return keys


def conform(table: pa.Table) -> pa.Table:
    """A logged file's table in `SCHEMA`: a column it lacks (written before the column was added) is null,
    a column this reader does not know (written by a newer writer) is left out."""
    columns = [
        table[field.name].cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in SCHEMA
    ]
    return pa.table(columns, schema=SCHEMA)


def read_predictions(lake: Lake, bucket: str, start: date, end: date) -> pd.DataFrame:
    """Every logged row of the dates from `start` to `end` (both included), in `SCHEMA`'s columns, whatever
    release wrote them (see `conform`)."""
    tables = []
    for key in sorted(lake.list_keys(bucket)):
        match = _PARTITION.fullmatch(key)
        if match and start <= date.fromisoformat(match.group(1)) <= end:
            tables.append(conform(pq.read_table(io.BytesIO(lake.read_bytes(bucket, key)))))
    if not tables:
        return SCHEMA.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()
