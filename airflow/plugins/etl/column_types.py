"""The types of the columns the ETL keeps after validation (the features and the target): compact in memory
while the rows are processed, and the contract's types when they are published.

Compact: a category code (one byte) per categorical value, the smallest integer type that holds a complete
whole-number column's range, float64 otherwise. Published: whole numbers int64 (they are complete once valid),
other numbers float64, text str, as the ETL has always written them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.contract import COLUMNS, Column
from etl.quarantine import TEXT

KEPT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.role in ("feature", "target"))
_KEPT: dict[str, Column] = {c.name: c for c in COLUMNS if c.name in KEPT_COLUMNS}


def compact_dtype(column: Column):
    """The in-memory type of a kept column."""
    if column.kind == "category":
        return pd.CategoricalDtype(list(column.categories))
    if column.kind == "integer" and not column.nullable:
        for dtype in (np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= (column.minimum or 0) and (column.maximum or np.inf) <= info.max:
                return dtype
        return np.int64
    return np.float64


def to_compact(column: Column, values: pd.Series) -> pd.Series:
    """Validated values of a kept column in their compact type."""
    return values.astype(compact_dtype(column))


def empty_compact_frame(index_name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series([], dtype=compact_dtype(_KEPT[name])) for name in KEPT_COLUMNS},
        index=pd.Index([], name=index_name, dtype="int64"),
    )


def contract_types(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s kept columns in their published types (other columns as they are)."""
    types = {}
    for name in frame.columns:
        column = _KEPT.get(name)
        if column is None:
            continue
        if column.kind == "integer" and not column.nullable:
            types[name] = "int64"
        elif column.is_numeric:
            types[name] = "float64"
        else:
            types[name] = TEXT
    return frame.astype(types)
