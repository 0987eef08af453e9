"""The rows of a file to score, validated against the data contract with the ETL's own checks.

CSV goes through the ETL's strict line-by-line parser (a malformed line is quarantined on its own); Parquet is
read a batch of rows at a time and turned into the same text columns, so both meet the very same checks and
reasons. The model's feature columns are required; the contract's other columns (the id, the join date, the
target...) are optional but checked when present, as the ETL checks them. Each row either becomes model input
(arrays, beside its line and id) or a quarantine row (line, reason, record). Lines: the physical line of a CSV
(the header is line 1), the row number of a Parquet file (the first row is 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.contract import BY_NAME, CATEGORICAL_FEATURES, COLUMNS, FEATURES, NUMERIC_FEATURES
from etl.errors import InputError
from etl.parse_csv import iter_chunks, read_header
from etl.quarantine import (
    LINE,
    RECORD_PROBLEM,
    TEXT,
    concat_quarantine,
    format_record,
    quarantine_frame,
)
from etl.validate import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, check_column

ID_COLUMN = next(c.name for c in COLUMNS if c.role == "id")
PARQUET_MAGIC = b"PAR1"
PARQUET_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ScoringChunk:
    """Consecutive rows of the input: the valid ones as model input, the others as quarantine rows."""

    lines: np.ndarray  # int64, the line of each valid row
    ids: np.ndarray | None  # the id of each valid row, when the input has an id column
    numeric: np.ndarray  # NUMERIC_FEATURES, NaN = missing
    categorical: list[tuple[str, ...]]  # CATEGORICAL_FEATURES
    quarantine: pd.DataFrame  # (line, reason, record), in line order
    problems: dict[str, int]  # rows that broke each column ("record": lines that are not records)
    blank_lines: int = 0


def iter_scoring_chunks(data: bytes) -> Iterator[ScoringChunk]:
    """Validate a CSV or Parquet input (told apart by Parquet's magic bytes) a chunk at a time. The columns
    are checked before the first chunk is yielded: InputError when a feature column is missing."""
    if data[:4] == PARQUET_MAGIC:
        return _iter_parquet(data)
    return _iter_csv(data)


def check_scoring_columns(names: list[str]) -> None:
    """InputError when a model input is missing (the contract's other columns are optional)."""
    missing = [name for name in FEATURES if name not in names]
    if missing:
        raise InputError(f"missing feature column(s) {missing}; the input has {names}")


def _iter_csv(data: bytes) -> Iterator[ScoringChunk]:
    header = read_header(data)
    check_scoring_columns(header.names)
    chunk_bytes = min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, len(data) // 8))

    def chunks() -> Iterator[ScoringChunk]:
        for chunk in iter_chunks(data, header, chunk_bytes):
            yield validate_text(chunk.frame, chunk.malformed, chunk.blank_lines)

    return chunks()


def _iter_parquet(data: bytes) -> Iterator[ScoringChunk]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"the input is not a readable Parquet file: {exc}") from None
    names = parquet.schema_arrow.names
    check_scoring_columns(names)
    known = [name for name in names if name in BY_NAME]

    def chunks() -> Iterator[ScoringChunk]:
        first = 1
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=known):
            frame = pd.DataFrame(
                {name: _as_text(batch.column(name), name) for name in known},
                index=pd.Index(np.arange(first, first + batch.num_rows, dtype=np.int64), name=LINE),
            )
            first += batch.num_rows
            yield validate_text(frame, quarantine_frame([], [], []), 0)

    return chunks()


def _as_text(values: pa.Array, name: str) -> pd.api.extensions.ExtensionArray:
    """A Parquet column as the text a CSV would hold: numbers in their shortest exact form, dates as
    YYYY-MM-DD, nulls as empty fields."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    try:
        if pa.types.is_timestamp(values.type):
            values = pc.strftime(values, format="%Y-%m-%d")
        elif not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"column {name!r} ({values.type}) cannot be read as a value: {exc}") from None
    return pd.array(pc.fill_null(values, "").to_numpy(zero_copy_only=False), dtype=TEXT)


def validate_text(frame: pd.DataFrame, malformed: pd.DataFrame, blank_lines: int) -> ScoringChunk:
    """Check every contract column of a text frame (index = line) as the ETL does; `malformed`: lines that
    were not records at all."""
    present = [column for column in COLUMNS if column.name in frame.columns]
    typed, problems = {}, {}
    for column in present:
        typed[column.name], problems[column.name] = check_column(column, frame[column.name])
    table = pd.DataFrame(problems, index=frame.index)
    bad = table.notna().any(axis=1).to_numpy()
    good = ~bad
    reasons = ["; ".join(p for p in row if pd.notna(p)) for row in table[bad].itertuples(index=False)]
    records = [format_record(values) for values in frame[bad].itertuples(index=False, name=None)]
    quarantine = concat_quarantine([malformed, quarantine_frame(frame.index[bad], reasons, records)])
    if len(malformed) and bad.any():
        quarantine = quarantine.sort_values(LINE, kind="stable", ignore_index=True)
    counts = {name: int(n) for name, n in table.notna().sum().items() if n}
    if len(malformed):
        counts[RECORD_PROBLEM] = len(malformed)
    numeric = np.empty((int(good.sum()), len(NUMERIC_FEATURES)))
    for position, name in enumerate(NUMERIC_FEATURES):
        numeric[:, position] = typed[name].to_numpy(dtype=np.float64)[good]
    categorical = list(zip(*(typed[name][good].tolist() for name in CATEGORICAL_FEATURES), strict=True))
    ids = typed[ID_COLUMN][good].to_numpy(dtype=object) if ID_COLUMN in typed else None
    return ScoringChunk(
        lines=frame.index.to_numpy(dtype=np.int64)[good],
        ids=ids,
        numeric=numeric,
        categorical=categorical,
        quarantine=quarantine,
        problems=counts,
        blank_lines=blank_lines,
    )
