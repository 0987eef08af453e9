"""Validation against the data contract: every row either passes, typed, or goes to quarantine with a reason
naming the field and the offending value. Only an input that cannot be processed at all (missing columns)
raises InputError; unknown extra columns are reported and ignored.

`validate_csv` parses and validates the input one chunk of lines at a time and keeps, of each valid row, only
the columns the ETL goes on with (features and target) in compact types (see column_types). The id and the
join date are checked but not kept: as text they were most of the memory, and no later step reads them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from etl.column_types import KEPT_COLUMNS, empty_compact_frame, to_compact
from etl.contract import COLUMNS, RAW_COLUMNS, Column
from etl.errors import InputError
from etl.parse_csv import ParsedCsv, TextChunk, iter_chunks, read_header
from etl.quarantine import LINE, RECORD_PROBLEM, TEXT, concat_quarantine, format_record, quarantine_frame

log = logging.getLogger(__name__)

# Text that means "no value" (compared case-insensitively after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
DATE_FORMAT = "%Y-%m-%d"
KEPT = [c for c in COLUMNS if c.name in KEPT_COLUMNS]
# A chunk is at most 1/8 of the input, so its temporaries stay a fraction of the input's size; the bounds keep
# per-chunk overhead small on large inputs and chunks meaningful on tiny ones.
MIN_CHUNK_BYTES, MAX_CHUNK_BYTES = 64 << 10, 4 << 20


@dataclass(frozen=True)
class Validation:
    """`valid`: KEPT_COLUMNS in compact types, index = line. `quarantine`: (line, reason, record) per bad row.
    `problems`: how many rows broke each field ("record" for lines that are not records).
    `extra_columns`: input columns the contract does not know. `blank_lines`: empty lines (not rows)."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    problems: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    blank_lines: int = 0

    @property
    def rows(self) -> int:
        return len(self.valid) + len(self.quarantine)


def validate_csv(data: bytes, chunk_bytes: int | None = None) -> Validation:
    """Parse and validate CSV bytes chunk by chunk (see the module docstring)."""
    header = read_header(data)
    extra = check_columns(header.names)
    if chunk_bytes is None:
        chunk_bytes = min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, len(data) // 8))
    valid, quarantine, problems, blank_lines = [], [], Counter(), 0
    for chunk in iter_chunks(data, header, chunk_bytes):
        part_valid, part_quarantine, part_problems = validate_chunk(chunk)
        valid.append(part_valid)
        quarantine.append(part_quarantine)
        problems.update(part_problems)
        blank_lines += chunk.blank_lines
    return _combine(valid, quarantine, problems, extra, blank_lines)


def validate_records(parsed: ParsedCsv) -> Validation:
    """Validate an input parsed in one piece (`parse_csv`); the same checks as `validate_csv`."""
    extra = check_columns(list(parsed.frame.columns))
    chunk = TextChunk(frame=parsed.frame, malformed=parsed.malformed, blank_lines=parsed.blank_lines)
    valid, quarantine, problems = validate_chunk(chunk)
    return _combine([valid], [quarantine], Counter(problems), extra, parsed.blank_lines)


def check_columns(names: list[str]) -> list[str]:
    """InputError when a contract column is missing; return (and report) the extra ones."""
    missing = [name for name in RAW_COLUMNS if name not in names]
    if missing:
        raise InputError(f"missing required column(s) {missing}; the input has {names}")
    extra = [name for name in names if name not in RAW_COLUMNS]
    if extra:
        log.warning("ignoring column(s) not in the contract: %s", extra)
    return extra


def validate_chunk(chunk: TextChunk) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """(valid rows in compact types, quarantine rows in line order, problems per field) of one chunk."""
    frame = chunk.frame
    typed, problems = {}, {}
    for column in COLUMNS:
        typed[column.name], problems[column.name] = check_column(column, frame[column.name])
    problem_table = pd.DataFrame(problems, index=frame.index)
    bad = problem_table.notna().any(axis=1).to_numpy()

    reasons = ["; ".join(p for p in row if pd.notna(p)) for row in problem_table[bad].itertuples(index=False)]
    records = _raw_records(frame[bad])
    invalid = quarantine_frame(frame.index[bad], reasons, records)
    quarantine = concat_quarantine([chunk.malformed, invalid])
    if len(chunk.malformed) and len(invalid):
        quarantine = quarantine.sort_values(LINE, kind="stable", ignore_index=True)

    counts = {name: int(n) for name, n in problem_table.notna().sum().items() if n}
    if len(chunk.malformed):
        counts[RECORD_PROBLEM] = len(chunk.malformed)
    valid = pd.DataFrame(
        {column.name: to_compact(column, typed[column.name][~bad]) for column in KEPT},
        index=frame.index[~bad],
    )
    return valid, quarantine, counts


def check_column(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (typed values, problem per row or None) for one contract column's raw text."""
    text = raw.astype(TEXT).str.strip()
    absent = text.str.lower().isin(MISSING_TOKENS).to_numpy()
    text = text.mask(absent)
    problem = np.full(len(text), None, dtype=object)

    def flag(mask: np.ndarray, before: str, after: str) -> None:
        if mask.any():
            problem[mask] = (before + text[mask] + after).to_numpy(dtype=object)

    if not column.nullable:
        problem[absent] = f"{column.name}: missing (required)"
    if column.kind == "category":
        allowed = ", ".join(column.categories)
        flag(
            ~absent & ~text.isin(column.categories).to_numpy(),
            f"{column.name}: unknown category '",
            f"' (allowed: {allowed})",
        )
        return text, pd.Series(problem, index=raw.index)
    if column.kind == "date":
        unparsed = pd.to_datetime(text, format=DATE_FORMAT, errors="coerce").isna().to_numpy()
        flag(~absent & unparsed, f"{column.name}: '", "' is not a YYYY-MM-DD date")
        return text, pd.Series(problem, index=raw.index)
    if not column.is_numeric:
        return text, pd.Series(problem, index=raw.index)

    number = pd.to_numeric(text, errors="coerce").astype(float).to_numpy()
    not_number = ~absent & ~np.isfinite(number)
    flag(not_number, f"{column.name}: '", "' is not a number")
    checked = ~absent & ~not_number
    if column.kind == "integer":
        fractional = checked & (np.nan_to_num(number) % 1 != 0)
        flag(fractional, f"{column.name}: '", "' is not a whole number")
        checked &= ~fractional
    if column.minimum is not None:
        flag(
            checked & (number < column.minimum),
            f"{column.name}: ",
            f" is below the minimum {column.minimum:g}",
        )
    if column.maximum is not None:
        flag(
            checked & (number > column.maximum),
            f"{column.name}: ",
            f" is above the maximum {column.maximum:g}",
        )
    return pd.Series(number, index=raw.index), pd.Series(problem, index=raw.index)


def _raw_records(rows: pd.DataFrame) -> list[str]:
    """The quarantined rows' fields as one CSV line each (only bad rows reach this, so a loop is fine)."""
    return [format_record(values) for values in rows.itertuples(index=False, name=None)]


def _combine(
    valid: list[pd.DataFrame],
    quarantine: list[pd.DataFrame],
    problems: Counter,
    extra: list[str],
    blank_lines: int,
) -> Validation:
    combined = Validation(
        valid=pd.concat(valid) if len(valid) > 1 else valid[0] if valid else empty_compact_frame(LINE),
        quarantine=concat_quarantine(quarantine),
        # Fields in contract order, then lines that are not records: the manifest lists them like that.
        problems={name: problems[name] for name in (*RAW_COLUMNS, RECORD_PROBLEM) if problems.get(name, 0)},
        extra_columns=extra,
        blank_lines=blank_lines,
    )
    if not combined.rows:
        raise InputError("the input has a header but no rows")
    if len(combined.quarantine):
        log.warning(
            "quarantined %d of %d rows: %s", len(combined.quarantine), combined.rows, combined.problems
        )
    return combined
