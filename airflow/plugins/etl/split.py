"""The stratified, seeded train/test split on the risk class derived from Burn Rate."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from etl.contract import CLASS_UPPER_BOUNDS, CLASSES, TARGET
from etl.errors import InputError

log = logging.getLogger(__name__)

# Name of the derived label (the class of Burn Rate) in y_train / y_test.
LABEL = "burnout_risk"
# sklearn numbers the classes of string labels in sorted order ("High", "Low", "Medium"); stratifying on
# integer codes numbered the same way gives exactly the same split, without one Python string per row.
_SORTED_CODE = np.argsort(np.argsort(np.array(CLASSES)))


def class_codes(burn_rate: pd.Series) -> np.ndarray:
    """The index in CLASSES of each Burn Rate's class: contract.burn_rate_to_class, vectorised."""
    return np.searchsorted(np.asarray(CLASS_UPPER_BOUNDS), burn_rate.to_numpy(dtype=float), side="right")


def label_classes(burn_rate: pd.Series) -> pd.Series:
    """The risk class ("Low", "Medium", "High") of each Burn Rate, named LABEL."""
    # References to the three class names, one per row, turned into Arrow-backed text.
    labels = np.array(CLASSES, dtype=object)[class_codes(burn_rate)]
    return pd.Series(labels, index=burn_rate.index, name=LABEL, dtype=str)


def split_train_test(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split cleaned records so that train and test keep the class proportions of the whole."""
    codes = class_codes(frame[TARGET])
    counts = np.bincount(codes, minlength=len(CLASSES))
    scarce = {CLASSES[i]: int(n) for i, n in enumerate(counts) if n == 1}
    if scarce:
        raise InputError(f"too few rows to stratify: class(es) {scarce} need at least 2 rows each")
    try:
        train, test = train_test_split(
            frame, test_size=test_size, stratify=_SORTED_CODE[codes], random_state=seed
        )
    except ValueError as exc:  # e.g. a test share smaller than the number of classes
        raise InputError(f"cannot split {len(frame)} rows with test_size={test_size}: {exc}") from None
    log.info("split %d rows into %d train and %d test (seed %d)", len(frame), len(train), len(test), seed)
    return train, test


def count_classes(labels: pd.Series) -> dict[str, int]:
    """Rows per class, in the contract's order, including classes with no rows."""
    counts = labels.value_counts()
    return {label: int(counts.get(label, 0)) for label in CLASSES}
