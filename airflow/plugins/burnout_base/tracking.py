"""MLflow wiring shared by the ETL, training, promotion and monitoring: one place that points MLflow at the
configured tracking server, creates experiments with the right artifact root, and labels experiments and
runs so the MLflow UI shows what they are."""

from __future__ import annotations

import mlflow

from burnout_base.settings import Settings

# The experiment kind MLflow 3's UI reads (ExperimentKind): "custom_model_development" opens an experiment
# on its runs, where an untagged one may be taken for GenAI (traces, tokens). MLflow 3.17's UI takes the kind
# from its sidebar switch instead (links with ?workflowType=machine_learning); the tag serves other versions.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT_KIND = "custom_model_development"
# The markdown "Description" the UI shows on an experiment's and a run's page.
NOTE_TAG = "mlflow.note.content"


def configure_mlflow(settings: Settings) -> None:
    """Point this process's MLflow client at the configured tracking and registry store."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def describe_experiments(settings: Settings) -> dict[str, str]:
    """The description of each experiment the platform creates, by experiment name."""
    return {
        settings.etl_experiment: "One run per ETL publication of the burnout dataset: row counts, "
        "quarantined rows, class balance and TRAIN feature statistics, tagged with the `dataset_version` "
        "it published.",
        settings.training_experiment: "One run per trained model family (and the weighted-vote ensemble), "
        "with nested Optuna trial runs, TEST scores with bootstrap intervals, and the model card; plus one "
        f"promotion run per decision on the `{settings.registered_model_name}` champion.",
        settings.monitoring_experiment: "One run per drift check: the logged predictions of a window "
        "compared with the champion's training split, and whether a retrain was triggered.",
        settings.scoring_experiment: "One run per batch scoring of a file by the champion model.",
    }


def ensure_experiment(settings: Settings, name: str) -> str:
    """Return the id of experiment `name`, creating it (with the embedded artifact root) if needed.

    The experiment carries the model-development kind and, for the platform's own experiments, a
    description; one created before those labels existed gets them here, once.
    """
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    labels = {EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT_KIND}
    description = describe_experiments(settings).get(name)
    if description:
        labels[NOTE_TAG] = description
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if settings.mlflow_artifact_root:
            location = f"{settings.mlflow_artifact_root.rstrip('/')}/{name}"
        try:
            return client.create_experiment(name, artifact_location=location, tags=labels)
        except mlflow.exceptions.MlflowException:
            # Another worker created it between our lookup and our create.
            experiment = client.get_experiment_by_name(name)
    # Only missing labels: a kind or description someone changed in the UI stays theirs.
    for key, value in labels.items():
        if key not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def describe_run(run_id: str, text: str) -> None:
    """Set the description MLflow's UI shows on run `run_id`'s page (markdown)."""
    mlflow.MlflowClient().set_tag(run_id, NOTE_TAG, text)
