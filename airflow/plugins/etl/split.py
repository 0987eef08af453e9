"""The stratified, seeded train/test split on the risk class derived from Burn Rate."""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.model_selection import train_test_split

from etl.contract import CLASSES, TARGET, burn_rate_to_class
from etl.errors import InputError

log = logging.getLogger(__name__)

# Name of the derived label (the class of Burn Rate) in y_train / y_test.
LABEL = "burnout_risk"


def label_classes(burn_rate: pd.Series) -> pd.Series:
    """The risk class ("Low", "Medium", "High") of each Burn Rate, named LABEL."""
    return burn_rate.map(burn_rate_to_class).astype(str).rename(LABEL)


def split_train_test(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split cleaned records so that train and test keep the class proportions of the whole."""
    labels = label_classes(frame[TARGET])
    counts = labels.value_counts()
    scarce = {label: int(n) for label, n in counts.items() if n < 2}
    if scarce:
        raise InputError(f"too few rows to stratify: class(es) {scarce} need at least 2 rows each")
    try:
        train, test = train_test_split(frame, test_size=test_size, stratify=labels, random_state=seed)
    except ValueError as exc:  # e.g. a test share smaller than the number of classes
        raise InputError(f"cannot split {len(frame)} rows with test_size={test_size}: {exc}") from None
    log.info("split %d rows into %d train and %d test (seed %d)", len(frame), len(train), len(test), seed)
    return train, test


def count_classes(labels: pd.Series) -> dict[str, int]:
    """Rows per class, in the contract's order, including classes with no rows."""
    counts = labels.value_counts()
    return {label: int(counts.get(label, 0)) for label in CLASSES}
