"""MLflow wiring shared by the ETL, training and promotion: one place that points MLflow at the
configured tracking server and creates experiments with the right artifact root."""

from __future__ import annotations

import mlflow

from burnout_base.settings import Settings


def configure_mlflow(settings: Settings) -> None:
    """Point this process's MLflow client at the configured tracking and registry store."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def ensure_experiment(settings: Settings, name: str) -> str:
    """Return the id of experiment `name`, creating it (with the embedded artifact root) if needed."""
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if settings.mlflow_artifact_root:
        location = f"{settings.mlflow_artifact_root.rstrip('/')}/{name}"
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another worker created it between our lookup and our create.
        return client.get_experiment_by_name(name).experiment_id
