"""Cleaning and splitting the validated rows, with every row counted: rows_in == rows_kept +
sum(rows_dropped) + rows_quarantined, and train + test == kept. When no dataset can be made of them (nothing
kept, or too few rows to stratify), the result says why instead of raising, so that the quarantine can still
be published."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from etl.clean import Cleaned, clean_records
from etl.errors import InputError
from etl.quarantine import REASON
from etl.split import split_train_test
from etl.validate import Validation

if TYPE_CHECKING:
    from burnout_base.settings import Settings


@dataclass(frozen=True)
class PreparedRows:
    """What the later steps need of the validated input. `train`/`test` are None, with `failure` saying why,
    when no dataset can be made of the rows."""

    train: pd.DataFrame | None
    test: pd.DataFrame | None
    quarantine: pd.DataFrame
    counts: dict
    problems: dict[str, int]
    extra_columns: list[str]
    failure: str | None = None


def prepare_rows(validation: Validation, settings: Settings) -> PreparedRows:
    """Clean and split the validated rows; the cleaned frame lives only in this call."""
    cleaned = clean_records(validation.valid)
    counts = count_rows(validation, cleaned)
    found = {
        "quarantine": validation.quarantine,
        "problems": validation.problems,
        "extra_columns": validation.extra_columns,
    }
    try:
        if cleaned.frame.empty:
            raise InputError("no row is left to publish")
        train, test = split_train_test(cleaned.frame, settings.test_size, settings.seed)
    except InputError as exc:  # say why so few rows were left, since no dataset gets published
        first = validation.quarantine[REASON].head(3).tolist()
        failure = (
            f"{exc} ({validation.rows} rows in, {len(validation.quarantine)} quarantined by field "
            f"{validation.problems}, dropped {cleaned.dropped}; first reasons: {first})"
        )
        return PreparedRows(
            None, None, counts={**counts, "train_rows": 0, "test_rows": 0}, failure=failure, **found
        )
    if len(train) + len(test) != counts["rows_kept"]:
        raise AssertionError(f"the split lost rows: {len(train)} + {len(test)} != {counts['rows_kept']}")
    return PreparedRows(
        train, test, counts={**counts, "train_rows": len(train), "test_rows": len(test)}, **found
    )


def count_rows(validation: Validation, cleaned: Cleaned) -> dict:
    """Row counts up to cleaning; refuses (as a bug, not bad input) any count that loses rows."""
    counts = {
        "rows_in": validation.rows,
        "blank_lines": validation.blank_lines,
        "rows_quarantined": len(validation.quarantine),
        "rows_dropped": cleaned.dropped,
        "rows_kept": len(cleaned.frame),
    }
    accounted = counts["rows_kept"] + sum(cleaned.dropped.values()) + counts["rows_quarantined"]
    if accounted != counts["rows_in"]:
        raise AssertionError(f"ETL lost rows: {counts}")
    return counts
