"""Live quality: the logged predictions of a window joined with the outcomes posted later
(monitoring.feedback), and what they say about each model version on live traffic.

`join_outcomes` matches an outcome to prediction rows by (request_id, record_index) when it names a request (a
missing record index is 0), else by employee_id with logged_at within [window_start, window_end]. The same
outcome posted twice (same match key, same observed class and Burn Rate) counts once; a prediction row keeps
one outcome, the latest received when several differ. Served and shadow rows are labelled alike (a null role
is served). Per model version and role: macro-F1, per-class recall and the top-label expected calibration
error (10 bins, with the reliability curve), each with a 95 % percentile bootstrap interval; the label
coverage of served rows and the delay from prediction to outcome; and for shadow pairs (the same request and
record labelled as served and as shadow) the paired difference macro-F1(shadow) - macro-F1(served).

`check_quality` (the `model_quality` DAG) logs it all to an MLflow run of `burnout-monitoring`
(monitoring.quality_report), flags the champion as degraded when its live macro-F1 on at least
`quality_min_rows` labelled rows falls below its TEST interval's lower bound, and writes the labelled served
records that carry a Burn Rate to the raw bucket as training data (etl.labelled). `paired_live_difference` is
the live evidence of a promotion: champion served rows against challenger shadow rows.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from burnout_base.settings import Settings
from etl.contract import BY_NAME, CLASSES, FEATURES, IDENTIFIER, TARGET
from etl.lake import lake_from_settings
from modeling.uncertainty import (
    encode_labels,
    expected_calibration_error,
    iter_resamples,
    macro_f1_from_confusion,
    percentile_interval,
    reliability_bins,
)
from monitoring import feedback as fb
from monitoring.drift import resolve_window
from monitoring.prediction_log import (
    EMPLOYEE_ID,
    LOGGED_AT,
    MODEL_VERSION,
    PREDICTED_CLASS,
    PROBABILITY_COLUMNS,
    RECORD_INDEX,
    REQUEST_ID,
    ROLE,
    SERVED,
    SHADOW,
    read_predictions,
)

log = logging.getLogger(__name__)

DELAY_S = "delay_s"
BINS = 10
PAIR_KEY = [REQUEST_ID, RECORD_INDEX]
_OUTCOME = "_outcome"  # an outcome's position among the deduplicated feedback rows
_ROW = "_row"  # a prediction row's position in the window
_DEDUP_KEY = [
    REQUEST_ID,
    RECORD_INDEX,
    EMPLOYEE_ID,
    fb.WINDOW_START,
    fb.WINDOW_END,
    fb.OBSERVED_CLASS,
    fb.BURN_RATE,
]
_OUTCOME_COLUMNS = [fb.FEEDBACK_ID, fb.RECEIVED_AT, fb.OBSERVED_CLASS, fb.BURN_RATE]


# --- the join -------------------------------------------------------------------------------------------


def join_outcomes(predictions: pd.DataFrame, feedback: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labelled prediction rows, unmatched outcomes); see the module docstring for the rules. A labelled row
    keeps the prediction's columns (role filled: served) plus feedback_id, received_at, observed_class,
    burn_rate and delay_s (received_at - logged_at, seconds), in the predictions' order."""
    predictions = predictions.reset_index(drop=True).copy()
    predictions[ROLE] = predictions[ROLE].fillna(SERVED)
    predictions[_ROW] = np.arange(len(predictions))
    outcomes = feedback.reset_index(drop=True).copy()
    by_request = outcomes[REQUEST_ID].notna()
    index = pd.to_numeric(outcomes[RECORD_INDEX]).astype("float64")
    outcomes[RECORD_INDEX] = index.fillna(0).where(by_request)
    # Only the columns of its match key count: an outcome by request ignores any employee it names.
    outcomes[EMPLOYEE_ID] = outcomes[EMPLOYEE_ID].where(~by_request)
    for name in (fb.WINDOW_START, fb.WINDOW_END):
        outcomes[name] = outcomes[name].where(~by_request)
    outcomes = outcomes.sort_values(fb.RECEIVED_AT, kind="stable")
    outcomes = outcomes.drop_duplicates(_DEDUP_KEY, keep="first").reset_index(drop=True)
    outcomes[_OUTCOME] = np.arange(len(outcomes))

    requested = outcomes[outcomes[REQUEST_ID].notna()].astype({RECORD_INDEX: "int64"})
    by_id = requested[[REQUEST_ID, RECORD_INDEX, _OUTCOME]].merge(
        predictions[[REQUEST_ID, RECORD_INDEX, _ROW]].astype({RECORD_INDEX: "int64"}),
        on=[REQUEST_ID, RECORD_INDEX],
    )
    windowed = outcomes[outcomes[REQUEST_ID].isna() & outcomes[EMPLOYEE_ID].notna()]
    by_employee = windowed[[EMPLOYEE_ID, fb.WINDOW_START, fb.WINDOW_END, _OUTCOME]].merge(
        predictions.loc[predictions[EMPLOYEE_ID].notna(), [EMPLOYEE_ID, LOGGED_AT, _ROW]], on=EMPLOYEE_ID
    )
    inside = (by_employee[LOGGED_AT] >= by_employee[fb.WINDOW_START]) & (
        by_employee[LOGGED_AT] <= by_employee[fb.WINDOW_END]
    )
    matches = pd.concat([by_id[[_ROW, _OUTCOME]], by_employee.loc[inside, [_ROW, _OUTCOME]]])
    matches = matches.merge(outcomes[[_OUTCOME, *_OUTCOME_COLUMNS]], on=_OUTCOME)
    # The latest received outcome wins (the later post among ties).
    matches = matches.sort_values([fb.RECEIVED_AT, _OUTCOME], kind="stable").drop_duplicates(
        _ROW, keep="last"
    )

    labelled = predictions.merge(matches.drop(columns=_OUTCOME), on=_ROW).sort_values(_ROW)
    labelled[DELAY_S] = (labelled[fb.RECEIVED_AT] - labelled[LOGGED_AT]).dt.total_seconds()
    labelled = labelled.drop(columns=_ROW).reset_index(drop=True)
    matched = set(by_id[_OUTCOME]) | set(by_employee.loc[inside, _OUTCOME])
    unmatched = outcomes[~outcomes[_OUTCOME].isin(matched)].drop(columns=_OUTCOME).reset_index(drop=True)
    return labelled, unmatched


# --- the figures ----------------------------------------------------------------------------------------


def _interval(samples: np.ndarray) -> list[float] | None:
    samples = samples[np.isfinite(samples)]
    return None if len(samples) == 0 else [float(v) for v in percentile_interval(samples)]


def _value(number: float) -> float | None:
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
        "macro_f1": _value(macro_f1_from_confusion(confusion, k)),
        "recall": {name: _value(recall[i]) for i, name in enumerate(CLASSES)},
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
        figures["ece"] = _value(expected_calibration_error(reliability))
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
        "shadow_macro_f1": _value(point[0]),
        "served_macro_f1": _value(point[1]),
        "difference": _value(point[0] - point[1]),
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
    return coverage, {"rows": len(delays), "median_h": _value(median), "p90_h": _value(p90)}


# --- reading the lake -----------------------------------------------------------------------------------


def read_window(settings: Settings, start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The predictions logged and the outcomes received from `start` to `end` (both included)."""
    lake = lake_from_settings(settings)
    predictions = read_predictions(lake, settings.predictions_bucket, start, end)
    return predictions, fb.read_feedback(lake, settings.feedback_bucket, start, end)


def paired_live_difference(
    settings: Settings, champion_version: int, challenger_version: int, days: int | None = None
) -> dict[str, Any]:
    """The live evidence of a promotion: on the last `days` days (default quality_window_days, up to today
    UTC), macro-F1 of challenger_version's shadow rows minus champion_version's served rows on the same
    labelled records, with its paired 95 % bootstrap interval. {"rows", "difference", "ci",
    "champion_version", "challenger_version", "window": [start, end]}; without pairs rows is 0 and the
    figures None."""
    start, end = resolve_window(days or settings.quality_window_days)
    labelled, _ = join_outcomes(*read_window(settings, start, end))
    pairs = paired_rows(labelled)
    pairs = pairs[
        (pairs[f"{MODEL_VERSION}_served"] == champion_version)
        & (pairs[f"{MODEL_VERSION}_shadow"] == challenger_version)
    ]
    evidence = {
        "rows": len(pairs),
        "difference": None,
        "ci": None,
        "champion_version": int(champion_version),
        "challenger_version": int(challenger_version),
        "window": [start.isoformat(), end.isoformat()],
    }
    if len(pairs):
        figures = paired_difference(pairs, settings.quality_bootstrap, settings.seed)
        evidence.update(difference=figures["difference"], ci=figures["ci"])
    return evidence


def champion_test_floor(settings: Settings) -> dict[str, Any] | None:
    """The champion's version, TEST macro-F1 and the lower bound of its 95 % bootstrap interval (as its
    training run logged it, else scored now on its dataset's TEST split), or None without a champion."""
    import mlflow

    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import describe_version
    from modeling.registry import dataset_of, find_champion

    configure_mlflow(settings)
    champion = find_champion(settings)
    if champion is None:
        return None
    described = describe_version(mlflow.MlflowClient(), settings.registered_model_name, champion.version)
    test = described["test_metrics"]
    macro_f1, low = test.get("macro_f1"), test.get("macro_f1_ci_low")
    if low is None:
        from modeling.promotion_evidence import score_version

        score = score_version(settings, champion, dataset_of(settings, champion), {})
        macro_f1, low = score.macro_f1, score.ci[0]
    return {
        "version": int(champion.version),
        "dataset_version": described["dataset_version"],
        "test_macro_f1": _value(macro_f1),
        "test_macro_f1_low": _value(low),
    }


# --- training records -----------------------------------------------------------------------------------


def training_records(labelled: pd.DataFrame) -> pd.DataFrame:
    """The labelled served rows with an observed Burn Rate and an Employee ID (the contract requires one), as
    raw records: Employee ID, the features (whole-number columns as integers), Burn Rate."""
    rows = labelled[
        (labelled[ROLE] == SERVED) & labelled[fb.BURN_RATE].notna() & labelled[EMPLOYEE_ID].notna()
    ]
    records = pd.DataFrame({IDENTIFIER: rows[EMPLOYEE_ID].astype(str)})
    for name in FEATURES:
        values = rows[name]
        if BY_NAME[name].kind == "integer":
            values = values.round().astype("Int64")
        records[name] = values
    records[TARGET] = rows[fb.BURN_RATE].astype(float)
    return records.reset_index(drop=True)


def _as_text(frame: pd.DataFrame) -> list[tuple]:
    text = pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)
    return list(text.itertuples(index=False, name=None))


def unwritten_records(settings: Settings, records: pd.DataFrame) -> pd.DataFrame:
    """The records no earlier labelled file holds (compared as CSV text), each once: windows overlap from
    one day's check to the next, and the ETL appends every labelled file."""
    from etl.labelled import labelled_keys

    lake, columns = lake_from_settings(settings), list(records.columns)
    seen: set[tuple] = set()
    for key in labelled_keys(settings, lake):
        old = pd.read_csv(
            io.BytesIO(lake.read_bytes(settings.raw_bucket, key)), dtype=str, keep_default_na=False
        )
        if set(columns) <= set(old.columns):
            seen.update(old[columns].itertuples(index=False, name=None))
    keep = []
    for row in _as_text(records):
        keep.append(row not in seen)
        seen.add(row)
    return records[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def write_training_records(settings: Settings, labelled: pd.DataFrame) -> tuple[str | None, int]:
    """Write the new training records among `labelled` (etl.labelled); (the URI or None, records written)."""
    from etl import labelled as labelled_files

    records = training_records(labelled)
    if len(records):
        records = unwritten_records(settings, records)
    if not len(records):
        return None, 0
    return labelled_files.write_labelled_records(settings, records), len(records)


# --- the check ------------------------------------------------------------------------------------------


def check_quality(settings: Settings, days: int | None = None, end: date | None = None) -> dict[str, Any]:
    """Join the window's predictions with their outcomes, score every version, log the MLflow run, write the
    new training records (see the module docstring). Returns a plain summary: status "checked", or "skipped"
    with a reason when the window logged no prediction."""
    start, end = resolve_window(days or settings.quality_window_days, end=end)
    window = {"start": start.isoformat(), "end": end.isoformat()}
    predictions, outcomes = read_window(settings, start, end)
    base = {"window": window, "rows": len(predictions), "degraded": False}
    if predictions.empty:
        reason = f"no logged predictions from {start} to {end}"
        log.warning("quality check skipped: %s", reason)
        return {"status": "skipped", "reason": reason, **base}
    labelled, unmatched = join_outcomes(predictions, outcomes)
    rounds, seed = settings.quality_bootstrap, settings.seed
    coverage, delay = coverage_and_delay(predictions, labelled)
    versions = version_figures(labelled, rounds, seed) if len(labelled) else []
    champion = champion_test_floor(settings)
    summary: dict[str, Any] = {
        "status": "checked",
        **base,
        "outcomes": len(outcomes),
        "labelled": int((labelled[ROLE] == SERVED).sum()),
        "labelled_shadow": int((labelled[ROLE] == SHADOW).sum()),
        "coverage": coverage,
        "unmatched": len(unmatched),
        "delay": delay,
        "versions": versions,
        "shadow_pairs": shadow_pairs(labelled, rounds, seed) if len(labelled) else [],
        "min_rows": settings.quality_min_rows,
        "bootstrap": rounds,
        "champion_version": champion and champion["version"],
        "champion_dataset_version": champion and champion["dataset_version"],
        "champion_test_macro_f1": champion and champion["test_macro_f1"],
        "champion_test_macro_f1_low": champion and champion["test_macro_f1_low"],
    }
    summary["champion_live"] = next(
        (
            f
            for f in versions
            if champion and f["role"] == SERVED and f["model_version"] == champion["version"]
        ),
        None,
    )
    live, low = summary["champion_live"], summary["champion_test_macro_f1_low"]
    summary["degraded"] = bool(
        live is not None
        and low is not None
        and live["rows"] >= settings.quality_min_rows
        and live["macro_f1"] < low
    )
    summary["labelled_uri"], summary["labelled_records"] = write_training_records(settings, labelled)

    from monitoring.quality_report import log_quality_run

    delays_h = labelled.loc[labelled[ROLE] == SERVED, DELAY_S].to_numpy(dtype=float) / 3600
    summary["mlflow_run_id"] = log_quality_run(settings, summary, delays_h)
    log.info(
        "quality %s..%s: %d predictions, %d labelled (coverage %s), %d unmatched outcomes, champion v%s %s",
        start,
        end,
        len(predictions),
        summary["labelled"],
        coverage,
        len(unmatched),
        summary["champion_version"],
        "DEGRADED" if summary["degraded"] else "not degraded",
    )
    return summary
