"""The whole flow in one call: ETL, then every model family, then promotion; one JSON-able summary with the
champion and the seconds each step took. The Airflow DAGs run the same steps as separate tasks."""

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
    """Family, version and test metrics of the version holding `champion` after promotion.

    When an older champion was kept, its metrics come from its own training run (its dataset's TEST split);
    `macro_f1_current_test` is always the score on the current TEST split that promotion compared.
    """
    version = promotion["current_champion_version"]
    current_f1 = (
        promotion["candidate_macro_f1"]
        if version == promotion["candidate_version"]
        else promotion["champion_macro_f1"]
    )
    for summary in trained.values():
        if summary["model_version"] == version:
            return {
                "family": summary["family"],
                "version": version,
                "dataset_version": summary["dataset_version"],
                "test_metrics": summary["test_metrics"],
                "macro_f1_current_test": current_f1,
            }
    from modeling.model_io import describe_version

    described = describe_version(mlflow.MlflowClient(), settings.registered_model_name, version)
    return {
        "family": described["family"],
        "version": version,
        "dataset_version": described["dataset_version"],
        "test_metrics": described["test_metrics"],
        "macro_f1_current_test": current_f1,
    }


def run_pipeline(
    settings: Settings, input: str | None = None, trials: int | None = None, timeout: float | None = None
) -> dict:
    """ETL `input` (None = the lake's raw object), train every family on that version, promote the best.

    `trials`/`timeout` are per family and override the settings' tuning budget. The summary holds
    dataset_version; champion {family, version, dataset_version, test_metrics, macro_f1_current_test};
    promotion (promote_best's dict); families {name: {model_version, run_id, cv_macro_f1, test_metrics,
    best_params, seconds}}; etl (run_etl's dict); seconds {etl, train_<family>..., promote, total}.
    """
    from etl.run_etl import run_etl
    from modeling.families import FAMILIES
    from modeling.registry import promote_best
    from modeling.train import train_family

    started = time.monotonic()
    seconds: dict[str, float] = {}
    etl = run_timed(seconds, "etl", run_etl, input, settings)
    version = etl["dataset_version"]
    trained = {
        family: run_timed(
            seconds,
            f"train_{family}",
            train_family,
            family,
            settings,
            dataset_version=version,
            trials=trials,
            timeout=timeout,
        )
        for family in FAMILIES
    }
    promotion = run_timed(seconds, "promote", promote_best, settings)
    seconds["total"] = round(time.monotonic() - started, 1)
    return {
        "dataset_version": version,
        "champion": describe_champion(settings, promotion, trained),
        "promotion": promotion,
        "families": {
            family: {
                key: summary[key]
                for key in (
                    "model_version",
                    "run_id",
                    "cv_macro_f1",
                    "test_metrics",
                    "best_params",
                    "seconds",
                )
            }
            for family, summary in trained.items()
        },
        "etl": etl,
        "seconds": seconds,
    }
