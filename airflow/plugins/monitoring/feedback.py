"""Ground truth, posted late: observed outcomes (POST /feedback, gRPC `Feedback`) appended to the lake under
`<feedback_bucket>/date=YYYY-MM-DD/` (`monitoring.daily_parquet`), one file per accepted batch.

An outcome names what it is about in one of two ways: the prediction's request id (and record index), or an
Employee ID with a time window (every prediction for that employee logged within it). It carries the observed
Burn Rate or only the class. Nothing is matched at post time (the log is buffered, replicas are separate):
`monitoring.outcome_join` joins outcomes with predictions, removes duplicates and reports what matched
nothing.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from etl.lake import Lake
from monitoring.daily_parquet import append_by_day, read_days

FEEDBACK_ID = "feedback_id"  # one per accepted batch: which post an outcome came with
RECEIVED_AT = "received_at"
REQUEST_ID = "request_id"
RECORD_INDEX = "record_index"
EMPLOYEE_ID = "employee_id"
WINDOW_START = "window_start"
WINDOW_END = "window_end"
BURN_RATE = "burn_rate"  # null when only the class was observed
OBSERVED_CLASS = "observed_class"  # always set: from the Burn Rate when one was sent

# Columns are only added (as the prediction log's).
SCHEMA = pa.schema(
    [
        (FEEDBACK_ID, pa.string()),
        (RECEIVED_AT, pa.timestamp("us", tz="UTC")),
        (REQUEST_ID, pa.string()),
        (RECORD_INDEX, pa.int32()),
        (EMPLOYEE_ID, pa.string()),
        (WINDOW_START, pa.timestamp("us", tz="UTC")),
        (WINDOW_END, pa.timestamp("us", tz="UTC")),
        (BURN_RATE, pa.float64()),
        (OBSERVED_CLASS, pa.string()),
    ]
)


def write_feedback(lake: Lake, bucket: str, table: pa.Table) -> list[str]:
    """Append validated outcomes (a table in `SCHEMA`); returns the keys written."""
    return append_by_day(lake, bucket, table, SCHEMA, RECEIVED_AT)


def read_feedback(lake: Lake, bucket: str, start: date, end: date) -> pd.DataFrame:
    """Every outcome received from `start` to `end` (both included), in `SCHEMA`'s columns."""
    return read_days(lake, bucket, SCHEMA, start, end)
