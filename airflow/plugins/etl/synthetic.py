"""Synthetic burnout records: the default dataset, so that a fresh clone works without downloading anything.

Types, ranges, categories and rounding come from the data contract; what the contract cannot say (marginal
distributions, correlations, missing rates) is calibrated on the real 22,750-row dataset:

- Gender, WFH, Designation, Resource Allocation, Mental Fatigue and Burn Rate share one Gaussian copula whose
  correlations reproduce the real ones (e.g. Burn Rate ~ Mental Fatigue 0.94, ~ Resource Allocation 0.86).
- The survey-like columns (work hours, sleep, scores, recognition) follow one of two profiles depending on
  whether Burn Rate exceeds 0.40, which is how the real "enriched" columns were built.
- Team Size, Company Type, Years in Company and the join date are independent of burnout, as in the data.
- Values go missing completely at random in the contract's nullable columns, at the real rates.

The calibration is per column, so it names columns; the generator refuses to run if they drift from the
contract.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from etl.contract import BY_NAME, COLUMNS, RAW_COLUMNS, TARGET

log = logging.getLogger(__name__)

# Copula members, in the order of the correlation matrix below. Binary categories map the latent's high side
# to the category listed in _HIGH_CATEGORY (the one with more burnout).
_COPULA = (
    "Gender",
    "WFH Setup Available",
    "Designation",
    "Resource Allocation",
    "Mental Fatigue Score",
    "Burn Rate",
)
# Latent correlations, slightly above the observed ones: thresholding, rounding and clipping shrink them.
_COPULA_CORR = np.array(
    [
        [1.00, 0.09, 0.13, 0.17, 0.18, 0.19],
        [0.09, 1.00, 0.28, 0.35, 0.34, 0.38],
        [0.13, 0.28, 1.00, 0.92, 0.71, 0.76],
        [0.17, 0.35, 0.92, 1.00, 0.81, 0.87],
        [0.18, 0.34, 0.71, 0.81, 1.00, 0.94],
        [0.19, 0.38, 0.76, 0.87, 0.94, 1.00],
    ]
)
_HIGH_CATEGORY = {"Gender": ("Male", 0.477), "WFH Setup Available": ("No", 0.46)}
_LEVEL_PROBS = {"Designation": (0.066, 0.215, 0.334, 0.263, 0.105, 0.017)}
_GAUSSIAN = {  # name: (mean, std, decimals)
    "Resource Allocation": (4.48, 2.05, 0),
    "Mental Fatigue Score": (5.73, 1.92, 1),
    "Burn Rate": (0.452, 0.198, 2),
}

# Burn Rate above which a record follows the "high" profile of the survey-like columns.
_PROFILE_THRESHOLD = 0.40
_PROFILE_CHOICES = {  # name: (values when low burnout, values when high burnout), drawn uniformly
    "Work Hours per Week": (range(35, 45), range(48, 60)),
    "Work-Life Balance Score": ((3, 4, 5), (1, 2)),
    "Manager Support Score": ((3, 4, 5), (1, 2, 3)),
    "Deadline Pressure Score": ((1, 2, 3), (4, 5)),
    "Recognition Frequency": ((2, 3, 4, 5), (0, 1)),
}
_PROFILE_NORMAL = {"Sleep Hours": ((7.0, 0.5), (5.5, 0.5), 1)}  # name: (low, high (mean, std)), decimals

_INDEPENDENT_CHOICES = {  # name: (values, probabilities)
    "Company Type": (("Product", "Service"), (0.348, 0.652)),
    "Team Size": (tuple(range(3, 20)), None),
    "Years in Company": ((16, 17), (0.984, 0.016)),
}
_ID_COLUMN = "Employee ID"
_DATE_COLUMN = "Date of Joining"
_JOIN_YEAR = 2008

_MISSING_RATES = {"Resource Allocation": 0.0607, "Mental Fatigue Score": 0.0931, "Burn Rate": 0.0494}


def generate_synthetic(rows: int, seed: int) -> pd.DataFrame:
    """Return `rows` synthetic raw records with the contract's columns, deterministic for a given seed."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    _check_calibration()
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    values.update(_draw_copula(rng, rows))
    high = values[TARGET] > _PROFILE_THRESHOLD
    values.update(_draw_profiles(rng, high))
    for name, (choices, probs) in _INDEPENDENT_CHOICES.items():
        values[name] = rng.choice(np.array(choices), size=rows, p=probs)
    values[_ID_COLUMN] = _draw_ids(rng, rows)
    days = rng.integers(0, 366, size=rows)  # 2008 is a leap year
    values[_DATE_COLUMN] = (np.datetime64(f"{_JOIN_YEAR}-01-01") + days).astype(str)
    for name, rate in _MISSING_RATES.items():
        column = values[name].astype(float)
        column[rng.random(rows) < rate] = np.nan
        values[name] = column
    return pd.DataFrame({name: values[name] for name in RAW_COLUMNS})


def write_synthetic_csv(path: str | Path, rows: int, seed: int) -> dict:
    """Write `generate_synthetic(rows, seed)` as CSV at `path` (folder created); return what was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_synthetic(rows, seed).to_csv(path, index=False)
    log.info("wrote %d synthetic rows (seed %d) to %s", rows, seed, path)
    return {"path": str(path), "rows": rows, "seed": seed}


def _check_calibration() -> None:
    """Fail loudly if the calibration and the contract no longer describe the same columns."""
    calibrated = (
        set(_COPULA)
        | set(_PROFILE_CHOICES)
        | set(_PROFILE_NORMAL)
        | set(_INDEPENDENT_CHOICES)
        | {_ID_COLUMN, _DATE_COLUMN}
    )
    if calibrated != set(RAW_COLUMNS) or not set(_MISSING_RATES) <= calibrated:
        raise RuntimeError(
            f"synthetic calibration out of sync with the contract: {calibrated ^ set(RAW_COLUMNS)}"
        )
    nullable = {c.name for c in COLUMNS if c.nullable}
    if set(_MISSING_RATES) - nullable:
        raise RuntimeError(
            f"missing values calibrated for non-nullable columns {set(_MISSING_RATES) - nullable}"
        )


def _draw_copula(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    latent = rng.multivariate_normal(np.zeros(len(_COPULA)), _COPULA_CORR, size=rows, method="cholesky")
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(_COPULA):
        z, column = latent[:, i], BY_NAME[name]
        if name in _HIGH_CATEGORY:
            high_category, share = _HIGH_CATEGORY[name]
            low_category = next(c for c in column.categories if c != high_category)
            out[name] = np.where(z > ndtri(1 - share), high_category, low_category)
        elif name in _LEVEL_PROBS:
            cuts = ndtri(np.cumsum(_LEVEL_PROBS[name])[:-1])
            out[name] = int(column.minimum) + np.searchsorted(cuts, z)
        else:
            mean, std, decimals = _GAUSSIAN[name]
            out[name] = np.round(np.clip(mean + std * z, column.minimum, column.maximum), decimals)
    return out


def _draw_profiles(rng: np.random.Generator, high: np.ndarray) -> dict[str, np.ndarray]:
    rows = len(high)
    out: dict[str, np.ndarray] = {}
    for name, (low_values, high_values) in _PROFILE_CHOICES.items():
        low_draw = rng.choice(np.array(low_values), size=rows)
        high_draw = rng.choice(np.array(high_values), size=rows)
        out[name] = np.where(high, high_draw, low_draw)
    for name, ((low_mean, low_std), (high_mean, high_std), decimals) in _PROFILE_NORMAL.items():
        column = BY_NAME[name]
        draw = np.where(high, rng.normal(high_mean, high_std, rows), rng.normal(low_mean, low_std, rows))
        out[name] = np.round(np.clip(draw, column.minimum, column.maximum), decimals)
    return out


def _draw_ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Unique ids shaped like the real ones: the UTF-16 bytes (with BOM) of a number, as hex."""
    numbers = rng.choice(max(100_000, 4 * rows), size=rows, replace=False) + 1
    return np.array([(b"\xff\xfe" + str(n).encode("utf-16-le")).hex() for n in numbers])
