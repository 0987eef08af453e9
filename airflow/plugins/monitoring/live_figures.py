"""What the labelled rows (monitoring.outcome_join) say about each model version on live traffic. Per model
version and role: macro-F1, per-class recall and the top-label expected calibration error (10 bins, with the
reliability curve), each with a 95 % percentile bootstrap interval; the label coverage of served rows and the
delay from prediction to outcome; and for shadow pairs (the same request and record labelled as served and as
shadow) the paired difference macro-F1(shadow) - macro-F1(served).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from etl.contract import CLASSES
from modeling.uncertainty import (
    encode_labels,
    expected_calibration_error,
    iter_resamples,
    macro_f1_from_confusion,
    percentile_interval,
    reliability_bins,
)
from monitoring import feedback as fb
from monitoring.outcome_join import DELAY_S
from monitoring.prediction_log import (
    MODEL_VERSION,
    PREDICTED_CLASS,
    PROBABILITY_COLUMNS,
    RECORD_INDEX,
    REQUEST_ID,
    ROLE,
    SERVED,
    SHADOW,
)

BINS = 10
PAIR_KEY = [REQUEST_ID, RECORD_INDEX]


def _interval(samples: np.ndarray) -> list[float] | None:
    samples = samples[np.isfinite(samples)]
    return None if len(samples) == 0 else [float(v) for v in percentile_interval(samples)]


def figure_value(number: float) -> float | None:
    """A figure as logged: a float, or None when it is missing or not finite."""
    # Unrounded: the figures must equal what anyone computes from the same rows (the stack test does).
    return None if number is None or not np.isfinite(number) else float(number)


def classification_figures(
    observed: Sequence, predicted: Sequence, proba: np.ndarray | None, rounds: int, seed: int
) -> dict[str, Any]:
    """Macro-F1, per-class recall (None for a class never observed) and, when `proba` (rows x CLASSES) is
    given, the top-label ECE over 10 bins with its reliability curve, each with a 95 % percentile bootstrap
    interval over `rounds` resamples of the rows (the same resamples for every figure)."""
    true_codes, [predicted_codes], k = encode_labels(observed, [predicted], list(CLASSES))
    n, side = len(true_codes), k + 1
    if n == 0:
        raise ValueError("no labelled rows to score")
    confusion = np.bincount(true_codes * side + predicted_codes, minlength=side * side).reshape(side, side)
    observed_counts = confusion.sum(axis=1)[:k]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diagonal(confusion)[:k] / observed_counts
    figures: dict[str, Any] = {
        "rows": n,
        "macro_f1": figure_value(macro_f1_from_confusion(confusion, k)),
        "recall": {name: figure_value(recall[i]) for i, name in enumerate(CLASSES)},
        "observed": {name: int(observed_counts[i]) for i, name in enumerate(CLASSES)},
    }
    calibrated = proba is not None and bool(np.isfinite(proba).all(axis=1).any())
    if calibrated:
        valid = np.isfinite(proba).all(axis=1)
        clean = np.where(valid[:, None], proba, 0.0)
        confidence = clean.max(axis=1)
        correct = (np.asarray(CLASSES)[clean.argmax(axis=1)] == np.asarray(observed)) & valid
        which = np.clip(np.ceil(confidence * BINS).astype(int) - 1, 0, BINS - 1)
        reliability = reliability_bins(np.asarray(observed)[valid], proba[valid], CLASSES, bins=BINS)
        figures["ece"] = figure_value(expected_calibration_error(reliability))
        figures["reliability"] = reliability

    macro, recalls, eces = [], [], []
    for rows in iter_resamples(n, rounds, seed):
        chunk = len(rows)
        offsets = (np.arange(chunk) * side * side)[:, None]
        cells = offsets + true_codes[rows] * side + predicted_codes[rows]
        confusions = np.bincount(cells.ravel(), minlength=chunk * side * side).reshape(chunk, side, side)
        macro.append(macro_f1_from_confusion(confusions, k))
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.diagonal(confusions, axis1=1, axis2=2)[:, :k] / confusions.sum(axis=2)[:, :k])
        if calibrated:
            # ECE = sum over bins of |sum of confidences - sum of hits| / rows: one bincount per sum.
            bins = ((np.arange(chunk) * BINS)[:, None] + which[rows]).ravel()
            size = chunk * BINS
            conf = np.bincount(bins, weights=(confidence * valid)[rows].ravel(), minlength=size)
            hits = np.bincount(bins, weights=correct[rows].ravel().astype(float), minlength=size)
            gap = np.abs(conf - hits).reshape(chunk, BINS).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                eces.append(gap / valid[rows].sum(axis=1))
    figures["macro_f1_ci"] = _interval(np.concatenate(macro))
    recall_samples = np.concatenate(recalls)
    figures["recall_ci"] = {name: _interval(recall_samples[:, i]) for i, name in enumerate(CLASSES)}
    if calibrated:
        figures["ece_ci"] = _interval(np.concatenate(eces))
    return figures


def _proba(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(PROBABILITY_COLUMNS)].to_numpy(dtype=float)


def version_figures(labelled: pd.DataFrame, rounds: int, seed: int) -> list[dict[str, Any]]:
    """`classification_figures` of each (model_version, role) among the labelled rows, served first."""
    figures = []
    for (version, role), group in labelled.groupby([MODEL_VERSION, ROLE], sort=True, dropna=False):
        scored = classification_figures(
            group[fb.OBSERVED_CLASS].to_numpy(),
            group[PREDICTED_CLASS].to_numpy(),
            _proba(group),
            rounds,
            seed,
        )
        figures.append({"model_version": None if pd.isna(version) else int(version), "role": role, **scored})
    return sorted(figures, key=lambda f: (f["role"] != SERVED, f["role"], f["model_version"] or 0))


def paired_rows(labelled: pd.DataFrame) -> pd.DataFrame:
    """One row per (request_id, record_index) labelled both as served and as shadow: the served row's columns
    with the suffix _served, the shadow row's with _shadow."""
    served = labelled[labelled[ROLE] == SERVED].drop_duplicates(PAIR_KEY)
    shadow = labelled[labelled[ROLE] == SHADOW].drop_duplicates(PAIR_KEY)
    return served.merge(shadow, on=PAIR_KEY, suffixes=("_served", "_shadow"))


def paired_difference(pairs: pd.DataFrame, rounds: int, seed: int) -> dict[str, Any]:
    """macro-F1(shadow) - macro-F1(served) on the pairs (truth: the served row's outcome) with its paired 95 %
    bootstrap interval: both scored on the same resampled pairs."""
    observed = pairs[f"{fb.OBSERVED_CLASS}_served"].to_numpy()
    true_codes, codes, k = encode_labels(
        observed,
        [pairs[f"{PREDICTED_CLASS}_shadow"].to_numpy(), pairs[f"{PREDICTED_CLASS}_served"].to_numpy()],
        list(CLASSES),
    )
    side, n = k + 1, len(true_codes)
    point = [
        macro_f1_from_confusion(
            np.bincount(true_codes * side + c, minlength=side * side).reshape(side, side), k
        )
        for c in codes
    ]
    differences = []
    for rows in iter_resamples(n, rounds, seed):
        chunk = len(rows)
        offsets = (np.arange(chunk) * side * side)[:, None]
        scores = [
            macro_f1_from_confusion(
                np.bincount(
                    (offsets + true_codes[rows] * side + c[rows]).ravel(), minlength=chunk * side * side
                ).reshape(chunk, side, side),
                k,
            )
            for c in codes
        ]
        differences.append(scores[0] - scores[1])
    return {
        "rows": n,
        "shadow_macro_f1": figure_value(point[0]),
        "served_macro_f1": figure_value(point[1]),
        "difference": figure_value(point[0] - point[1]),
        "ci": _interval(np.concatenate(differences)),
    }


def shadow_pairs(labelled: pd.DataFrame, rounds: int, seed: int) -> list[dict[str, Any]]:
    """`paired_difference` of each (served version, shadow version) among the labelled pairs."""
    pairs = paired_rows(labelled)
    found = []
    keys = [f"{MODEL_VERSION}_served", f"{MODEL_VERSION}_shadow"]
    for (served, shadow), group in pairs.groupby(keys, sort=True):
        found.append(
            {"served_version": int(served), "shadow_version": int(shadow)}
            | paired_difference(group, rounds, seed)
        )
    return found


def coverage_and_delay(predictions: pd.DataFrame, labelled: pd.DataFrame) -> tuple[float | None, dict]:
    """(labelled served rows / served rows, or None without served rows; the served rows' delay from
    prediction to outcome in hours: median and 90th percentile, None without labelled rows)."""
    served = int((predictions[ROLE].fillna(SERVED) == SERVED).sum())
    delays = labelled.loc[labelled[ROLE] == SERVED, DELAY_S].to_numpy(dtype=float) / 3600
    coverage = None if served == 0 else round(len(delays) / served, 6)
    if len(delays) == 0:
        return coverage, {"rows": 0, "median_h": None, "p90_h": None}
    median, p90 = np.percentile(delays, [50, 90])
    return coverage, {"rows": len(delays), "median_h": figure_value(median), "p90_h": figure_value(p90)}
