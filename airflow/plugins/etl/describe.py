"""Per-feature statistics of the training rows: recorded in the manifest and in MLflow, so a later dataset
(or the traffic the API sees) can be compared with what the model was trained on."""

from __future__ import annotations

import pandas as pd

from etl.contract import BY_NAME, FEATURES


def describe_features(raw: pd.DataFrame) -> dict[str, dict]:
    """Numeric features: mean, std, min, max, missing_rate. Categorical ones: missing_rate and each category's
    share. Statistics ignore missing values; None when a column has no value at all."""
    stats: dict[str, dict] = {}
    for name in FEATURES:
        values = raw[name]
        missing_rate = float(values.isna().mean()) if len(values) else 0.0
        if BY_NAME[name].is_numeric:
            present = values.dropna().astype(float)
            stats[name] = {
                "mean": _number(present.mean()),
                "std": _number(present.std()),
                "min": _number(present.min()),
                "max": _number(present.max()),
                "missing_rate": missing_rate,
            }
        else:
            shares = values.value_counts(normalize=True)
            stats[name] = {
                "missing_rate": missing_rate,
                "shares": {c: float(shares.get(c, 0.0)) for c in BY_NAME[name].categories},
            }
    return stats


def _number(value: float) -> float | None:
    return None if pd.isna(value) else float(value)
