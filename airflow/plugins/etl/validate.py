"""Validation against the data contract: every row either passes, typed, or goes to quarantine with a reason
naming the field and the offending value. Only an input that cannot be processed at all (missing columns)
raises InputError; unknown extra columns are reported and ignored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from etl.contract import COLUMNS, RAW_COLUMNS, Column
from etl.errors import InputError
from etl.parse_csv import LINE, QUARANTINE_COLUMNS, REASON, RECORD, ParsedCsv, format_record

log = logging.getLogger(__name__)

# Text that means "no value" (compared case-insensitively after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class Validation:
    """`valid`: the contract's columns, typed, index = line. `quarantine`: (line, reason, record) per bad row.
    `problems`: how many rows broke each field. `extra_columns`: input columns the contract does not know."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    problems: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)


def validate_records(parsed: ParsedCsv) -> Validation:
    """Check every row of `parsed` against the contract; see the module docstring."""
    frame = parsed.frame
    missing = [name for name in RAW_COLUMNS if name not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s) {missing}; the input has {list(frame.columns)}")
    extra = [name for name in frame.columns if name not in RAW_COLUMNS]
    if extra:
        log.warning("ignoring column(s) not in the contract: %s", extra)

    typed, problems = {}, {}
    for column in COLUMNS:
        typed[column.name], problems[column.name] = check_column(column, frame[column.name])
    problem_table = pd.DataFrame(problems, index=frame.index)
    bad = problem_table.notna().any(axis=1)

    reasons = ["; ".join(p for p in row if pd.notna(p)) for row in problem_table[bad].itertuples(index=False)]
    records = [format_record(values) for values in frame[bad].itertuples(index=False, name=None)]
    invalid = pd.DataFrame({LINE: frame.index[bad], REASON: reasons, RECORD: records})
    quarantine = (
        pd.concat([parsed.malformed, invalid], ignore_index=True) if len(parsed.malformed) else invalid
    )
    quarantine = quarantine.sort_values(LINE, kind="stable").reset_index(drop=True)
    quarantine = quarantine.astype({LINE: "int64", REASON: str, RECORD: str})[list(QUARANTINE_COLUMNS)]

    counts = {name: int(n) for name, n in problem_table.notna().sum().items() if n}
    if len(parsed.malformed):
        counts["record"] = len(parsed.malformed)
    if len(quarantine):
        log.warning("quarantined %d of %d rows: %s", len(quarantine), parsed.rows, counts)
    valid = _cast(pd.DataFrame(typed, index=frame.index)[~bad])
    return Validation(valid=valid, quarantine=quarantine, problems=counts, extra_columns=extra)


def check_column(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (typed values, problem per row or None) for one contract column's raw text."""
    text = raw.astype(str).str.strip()
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


def _cast(valid: pd.DataFrame) -> pd.DataFrame:
    """Give the valid rows their contract types (whole-number columns are complete here, so int64)."""
    types = {}
    for column in COLUMNS:
        if column.kind == "integer" and not column.nullable:
            types[column.name] = "int64"
        elif column.is_numeric:
            types[column.name] = "float64"
        else:
            types[column.name] = str
    return valid.astype(types)
