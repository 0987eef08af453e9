"""Append-only, date-partitioned Parquet in the lake: the storage of the prediction log and of the feedback.

Layout: `<bucket>/date=YYYY-MM-DD/part-<UTC time>-<random>.parquet`, one new file per write and date, never
rewritten, so that any number of writers (API replicas, stream workers, feedback posts) never contend. A
schema's columns are only added: `conform` reads a file of any release in the current schema.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.lake import Lake

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet")


def partition_key(day: date) -> str:
    """A new, unique object key in the partition of `day`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"date={day.isoformat()}/part-{stamp}-{secrets.token_hex(4)}.parquet"


def append_by_day(lake: Lake, bucket: str, table: pa.Table, schema: pa.Schema, day_column: str) -> list[str]:
    """Append `table` (conformed to `schema`): one new file per date present in `day_column` (a UTC
    timestamp). Returns the keys written."""
    table = conform(table, schema)
    if table.num_rows == 0:
        return []
    days = pc.strftime(table[day_column], format="%Y-%m-%d")
    keys = []
    for day in sorted(set(days.to_pylist())):
        part = table.filter(pc.equal(days, day))
        buffer = io.BytesIO()
        pq.write_table(part, buffer)
        key = partition_key(date.fromisoformat(day))
        lake.write_bytes(bucket, key, buffer.getvalue())
        keys.append(key)
    return keys


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A stored file's table in `schema`: a column it lacks (written before the column was added) is null, a
    column this reader does not know (written by a newer writer) is left out."""
    columns = [
        table[field.name].cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.table(columns, schema=schema)


def frame_to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A frame holding some of `schema`'s columns as a table of them (the rest are filled by `conform`)."""
    present = pa.schema([field for field in schema if field.name in frame.columns])
    return pa.Table.from_pandas(frame[present.names], schema=present, preserve_index=False)


def read_days(lake: Lake, bucket: str, schema: pa.Schema, start: date, end: date) -> pd.DataFrame:
    """Every row of the dates from `start` to `end` (both included), in `schema`'s columns, whatever release
    wrote them (see `conform`)."""
    tables = []
    for key in sorted(lake.list_keys(bucket)):
        match = _PARTITION.fullmatch(key)
        if match and start <= date.fromisoformat(match.group(1)) <= end:
            tables.append(conform(pq.read_table(io.BytesIO(lake.read_bytes(bucket, key))), schema))
    if not tables:
        return schema.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()
