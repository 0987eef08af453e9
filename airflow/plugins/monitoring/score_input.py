"""The rows of one partition of a file to score (see monitoring.score_partitions), validated against the
data contract with the ETL's own checks.

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
from etl.input_file import InputFile
from etl.parse_csv import parse_range
from etl.quarantine import (
    LINE,
    RECORD_PROBLEM,
    TEXT,
    concat_quarantine,
    format_record,
    quarantine_frame,
)
from etl.validate import MAX_CHUNK_BYTES, check_column

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


def iter_partition_chunks(file: InputFile, plan: dict, partition: dict) -> Iterator[ScoringChunk]:
    """Validate one partition of the input (see monitoring.score_partitions) a chunk at a time, reading only
    its own byte range (CSV) or row groups (Parquet)."""
    if plan["format"] == "parquet":
        return _iter_parquet(file, partition)
    return _iter_csv(file, plan["columns"], partition)


def check_scoring_columns(names: list[str]) -> None:
    """InputError when a model input is missing (the contract's other columns are optional)."""
    missing = [name for name in FEATURES if name not in names]
    if missing:
        raise InputError(f"missing feature column(s) {missing}; the input has {names}")


def open_parquet(file: InputFile):
    """A pyarrow ParquetFile over ranged reads of `file`: opening reads the footer, a row group reads its
    column chunks, nothing else. (pyarrow's own S3 filesystem would do the same, but would need the lake's
    endpoint and keys configured a second time.) InputError when it is not Parquet."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file.open())
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{file.uri} is not a readable Parquet file: {exc}") from None


def _iter_csv(file: InputFile, names: list[str], partition: dict) -> Iterator[ScoringChunk]:
    first_line = partition["first_line"]
    for offset, raw in iter_line_blocks(file, partition["start"], partition["end"], MAX_CHUNK_BYTES):
        chunk = parse_range(raw, offset, first_line, names)
        first_line += len(chunk.frame) + len(chunk.malformed) + chunk.blank_lines
        yield validate_text(chunk.frame, chunk.malformed, chunk.blank_lines)


def iter_line_blocks(file: InputFile, start: int, end: int, block_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of whole lines covering [start, end), about `block_bytes` at a time (a line longer than
    a block makes its block longer); `start` must begin a line."""
    carry, position = b"", start
    while position < end:
        read = file.read_range(position, min(position + block_bytes, end))
        if not read:
            raise InputError(f"{file.uri} ended at byte {position}, before byte {end}: was it changed?")
        block, block_start = carry + read, position - len(carry)
        position += len(read)
        if position < end:
            cut = block.rfind(b"\n") + 1
            carry, block = block[cut:], block[:cut]
            if not block:
                continue
        yield block_start, block


def _iter_parquet(file: InputFile, partition: dict) -> Iterator[ScoringChunk]:
    parquet = open_parquet(file)
    known = [name for name in parquet.schema_arrow.names if name in BY_NAME]
    groups = list(range(partition["first_group"], partition["end_group"]))
    first = partition["first_line"]
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=groups, columns=known):
        frame = pd.DataFrame(
            {name: _as_text(batch.column(name), name) for name in known},
            index=pd.Index(np.arange(first, first + batch.num_rows, dtype=np.int64), name=LINE),
        )
        first += batch.num_rows
        yield validate_text(frame, quarantine_frame([], [], []), 0)


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
