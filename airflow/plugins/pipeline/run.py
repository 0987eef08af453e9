"""The whole flow in one call, step for step what the `burnout_pipeline` DAG runs as tasks: ingest, ETL, the
tuning budget, every family trained (or reused), promotion and the API's reload; one JSON-able summary with
the champion and the seconds each step took."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import mlflow

from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def run_timed(seconds: dict[str, float], step: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Call `fn` and record its wall time under `step`."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    seconds[step] = round(time.monotonic() - started, 1)
    log.info("step %s took %.1fs", step, seconds[step])
    return result


def describe_champion(settings: Settings, promotion: dict, trained: dict[str, dict]) -> dict:
    """Family, version, CV and test metrics of the version holding `champion` after promotion.

    When an older champion was kept, its figures come from its own training run (its dataset's TEST split);
    `macro_f1_current_test` (with `macro_f1_current_test_ci`, its 95 % bootstrap interval) is always the score
    on the current TEST split that promotion compared.
    """
    version = promotion["current_champion_version"]
    role = "candidate" if version == promotion["candidate_version"] else "champion"
    described = next((s for s in trained.values() if s["model_version"] == version), None)
    if described is None:
        from modeling.model_io import describe_version

        described = describe_version(mlflow.MlflowClient(), settings.registered_model_name, version)
    return {
        "family": described["family"],
        "version": version,
        "dataset_version": described["dataset_version"],
        "cv_macro_f1": described.get("cv_macro_f1"),
        "cv_macro_f1_std": described.get("cv_macro_f1_std"),
        "test_metrics": described["test_metrics"],
        "macro_f1_current_test": promotion[f"{role}_macro_f1"],
        "macro_f1_current_test_ci": promotion.get(f"{role}_macro_f1_ci"),
    }


def run_pipeline(
    settings: Settings,
    input: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    retrain: bool = False,
) -> dict:
    """The `burnout_pipeline` DAG's steps in this process, with the same library calls and the same defaults.

    `input` (None = the data folder's CSV, uploaded to the lake's raw object once); `trials`/`timeout` per
    family (None = settings); `retrain` trains a family even if this dataset version already has a model of
    it. The summary holds dataset_version; champion {family, version, dataset_version, cv_macro_f1,
    cv_macro_f1_std, test_metrics, macro_f1_current_test, macro_f1_current_test_ci}; promotion (promote_best's
    dict); families (the tuned families, then the ensemble) {name: {model_version, run_id, reused,
    cv_macro_f1, cv_macro_f1_std, test_metrics, best_params, seconds}} (a reused family has no best_params or
    seconds); etl (run_etl's dict); api_reload; seconds {ingest, etl, train_<family>..., train_ensemble,
    promote, total}. test_metrics hold macro_f1 with its 95 % bootstrap interval (macro_f1_ci_low,
    macro_f1_ci_high) and calibration (brier_score,
    expected_calibration_error) beside the other TEST scores; a CV figure not logged is None.
    """
    from etl.ingest import ingest_raw_data
    from etl.run_etl import run_etl
    from modeling.budget import resolve_budget
    from modeling.ensemble import train_ensemble
    from modeling.families import FAMILIES
    from modeling.registry import promote_best
    from modeling.registry_names import ENSEMBLE
    from modeling.train import train_or_reuse
    from pipeline.reload_api import notify_reload

    started = time.monotonic()
    seconds: dict[str, float] = {}
    run_timed(seconds, "ingest", ingest_raw_data, settings, input)
    etl = run_timed(seconds, "etl", run_etl, input, settings)
    version = etl["dataset_version"]
    budget = resolve_budget(settings, trials, timeout)
    trained = {
        family: run_timed(
            seconds, f"train_{family}", train_or_reuse, family, settings, version, budget, retrain
        )
        for family in FAMILIES
    }
    # The ensemble votes with the families' versions just trained (or reused), so it comes after them.
    trained[ENSEMBLE] = run_timed(
        seconds, "train_ensemble", train_ensemble, settings, version, retrain=retrain
    )
    promotion = run_timed(seconds, "promote", promote_best, settings)
    api_reload = notify_reload(settings)
    seconds["total"] = round(time.monotonic() - started, 1)
    family_keys = (
        "model_version",
        "run_id",
        "reused",
        "cv_macro_f1",
        "cv_macro_f1_std",
        "test_metrics",
        "best_params",
        "seconds",
    )
    return {
        "dataset_version": version,
        "champion": describe_champion(settings, promotion, trained),
        "promotion": promotion,
        "families": {
            family: {key: summary[key] for key in family_keys if key in summary}
            for family, summary in trained.items()
        },
        "etl": etl,
        "api_reload": api_reload,
        "seconds": seconds,
    }
