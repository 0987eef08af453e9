"""Cleaning, as the original analysis did: keep only the features and the target (the ID, join date and Years
in Company carry no signal; validation does not even keep them), drop rows without a target, and drop rows
missing two or more values (too little left to impute)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from etl.contract import FEATURES, TARGET

log = logging.getLogger(__name__)

MISSING_TARGET = "missing_target"
TWO_OR_MORE_MISSING = "two_or_more_missing"
MAX_MISSING_FEATURES = 1


@dataclass(frozen=True)
class Cleaned:
    """`frame`: FEATURES + TARGET of the kept rows (index = line in the input). `dropped`: rows per reason."""

    frame: pd.DataFrame
    dropped: dict[str, int]


def clean_records(valid: pd.DataFrame) -> Cleaned:
    """Clean validated records; every removed row is counted under exactly one reason."""
    frame = valid[[*FEATURES, TARGET]]
    no_target = frame[TARGET].isna()
    # The target is checked first, so a row missing it counts there even when features are missing too.
    too_sparse = ~no_target & (frame[list(FEATURES)].isna().sum(axis=1) > MAX_MISSING_FEATURES)
    dropped = {MISSING_TARGET: int(no_target.sum()), TWO_OR_MORE_MISSING: int(too_sparse.sum())}
    kept = frame[~no_target & ~too_sparse]
    log.info("cleaning kept %d of %d rows; dropped %s", len(kept), len(frame), dropped)
    return Cleaned(frame=kept, dropped=dropped)
