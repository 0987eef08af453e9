"""The model version both servers serve: the current champion, trained with a small budget when none
exists."""

from __future__ import annotations

import logging
from pathlib import Path

from burnout_base.settings import Settings

log = logging.getLogger(__name__)
SMALL_TRIALS = 3
SMALL_TIMEOUT_S = 60.0


def find_champion(settings: Settings) -> dict | None:
    """Version, family, dataset version and run id of `<registered model>@champion`, or None if unset."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import describe_version
    from modeling.registry_names import CHAMPION

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except MlflowException:
        return None  # neither the registered model nor the alias exists yet
    described = describe_version(client, settings.registered_model_name, version.version)
    return {
        "version": described["model_version"],
        "family": described["family"],
        "dataset_version": described["dataset_version"],
        "run_id": described["run_id"],
    }


def ensure_champion(settings: Settings, data_folder: Path, dataset: Path | None = None) -> dict:
    """The champion; when there is none, run the pipeline once with a small budget to create it (on `dataset`,
    by default the real dataset or a synthetic one written into `data_folder`)."""
    champion = find_champion(settings)
    if champion is not None:
        return champion
    from benchmarks.data import resolve_dataset
    from pipeline.run import run_pipeline

    path, kind = resolve_dataset(data_folder, settings.seed, dataset)
    log.info("no champion yet: running the pipeline on %s data with %d trials per family", kind, SMALL_TRIALS)
    run_pipeline(settings, input=str(path), trials=SMALL_TRIALS, timeout=SMALL_TIMEOUT_S)
    champion = find_champion(settings)
    if champion is None:
        raise RuntimeError("the pipeline ran but registered no champion")
    return champion
