"""The pipeline's last step: one JSON-able summary of a run, the same whether `burnout pipeline` ran the steps
in this process or the burnout_pipeline DAG ran them as tasks, and the champion it reports."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from burnout_base.settings import Settings

# What the summary keeps of each trained (or reused) model; a reused one has no best_params or seconds.
FAMILY_KEYS = (
    "model_version",
    "run_id",
    "reused",
    "cv_macro_f1",
    "cv_macro_f1_std",
    "test_metrics",
    "best_params",
    "seconds",
)


def describe_champion(settings: Settings, promotion: Mapping[str, Any], trained: Mapping[str, dict]) -> dict:
    """Family, version, CV and test metrics of the version holding `champion` after promotion.

    When an older champion was kept, its figures come from its own training run (its dataset's TEST split);
    `macro_f1_current_test` (with `macro_f1_current_test_ci`, its 95 % bootstrap interval) is always the score
    on the current TEST split that promotion compared.
    """
    version = promotion["current_champion_version"]
    role = "candidate" if version == promotion["candidate_version"] else "champion"
    described = next((s for s in trained.values() if s["model_version"] == version), None)
    if described is None:
        import mlflow

        from burnout_base.tracking import configure_mlflow
        from modeling.model_io import describe_version

        configure_mlflow(settings)  # a DAG task runs in a process of its own
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


def summarize(
    settings: Settings,
    dataset: dict,
    families: Mapping[str, dict],
    ensemble: dict,
    promotion: dict,
    api_reload: dict,
    seconds: Mapping[str, float],
    started_at: float,
) -> dict[str, Any]:
    """The run's summary: dataset_version; champion (describe_champion); promotion (promote_best's dict);
    families (the tuned families, then the ensemble) {name: FAMILY_KEYS present}; etl (run_etl's dict);
    api_reload (notify_reload's dict); seconds (each timed step's, plus total since `started_at`, a
    time.time()). test_metrics hold macro_f1 with its 95 % bootstrap interval (macro_f1_ci_low,
    macro_f1_ci_high) and calibration (brier_score, expected_calibration_error) beside the other TEST scores;
    a CV figure not logged is None."""
    from modeling.registry_names import ENSEMBLE

    trained = {**families, ENSEMBLE: ensemble}
    return {
        "dataset_version": dataset["dataset_version"],
        "champion": describe_champion(settings, promotion, trained),
        "promotion": promotion,
        "families": {
            family: {key: summary[key] for key in FAMILY_KEYS if key in summary}
            for family, summary in trained.items()
        },
        "etl": dataset,
        "api_reload": api_reload,
        "seconds": {**seconds, "total": round(time.time() - started_at, 1)},
    }
