"""Live quality: the logged predictions and the outcomes of a window read from the lake, joined
(monitoring.outcome_join) and scored per model version (monitoring.live_figures).

`check_quality` (the `model_quality` DAG) logs it all to an MLflow run of `burnout-monitoring`
(monitoring.quality_report), flags the champion as degraded when its live macro-F1 on at least
`quality_min_rows` labelled rows falls below its TEST interval's lower bound, and writes the labelled served
records that carry a Burn Rate to the raw bucket as training data (etl.labelled). `paired_live_difference` is
the live evidence of a promotion: champion served rows against challenger shadow rows.
"""

from __future__ import annotations

import io
import logging
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from burnout_base.settings import Settings
from etl.contract import BY_NAME, FEATURES, IDENTIFIER, TARGET
from etl.lake import lake_from_settings
from monitoring import feedback as fb
from monitoring.drift import resolve_window
from monitoring.live_figures import (
    coverage_and_delay,
    figure_value,
    paired_difference,
    paired_rows,
    shadow_pairs,
    version_figures,
)
from monitoring.outcome_join import DELAY_S, join_outcomes
from monitoring.prediction_log import EMPLOYEE_ID, MODEL_VERSION, ROLE, SERVED, SHADOW, read_predictions

log = logging.getLogger(__name__)


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
        "test_macro_f1": figure_value(macro_f1),
        "test_macro_f1_low": figure_value(low),
    }


# --- training records -----------------------------------------------------------------------------------


def training_records(labelled: pd.DataFrame) -> pd.DataFrame:
    """The labelled served rows with an observed Burn Rate, as raw records: Employee ID (empty for a row
    logged without one; the contract allows it), the features (whole-number columns as integers), Burn
    Rate."""
    rows = labelled[(labelled[ROLE] == SERVED) & labelled[fb.BURN_RATE].notna()]
    records = pd.DataFrame({IDENTIFIER: rows[EMPLOYEE_ID].astype(object).fillna("").astype(str)})
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
