"""The MLflow labels users see: experiments open as model development with a description; runs have one."""

from __future__ import annotations

import mlflow

from burnout_base.tracking import (
    EXPERIMENT_KIND_TAG,
    MODEL_DEVELOPMENT_KIND,
    NOTE_TAG,
    configure_mlflow,
    describe_run,
    ensure_experiment,
)


def test_ensure_experiment_tags_new_experiment_as_model_development_with_description(settings):
    experiment_id = ensure_experiment(settings, settings.training_experiment)

    tags = mlflow.MlflowClient().get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT_KIND
    assert "Optuna" in tags[NOTE_TAG]


def test_ensure_experiment_labels_experiment_created_without_tags(settings):
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(settings.etl_experiment)

    assert ensure_experiment(settings, settings.etl_experiment) == experiment_id
    tags = client.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT_KIND
    assert "dataset_version" in tags[NOTE_TAG]


def test_ensure_experiment_keeps_description_edited_in_ui(settings):
    experiment_id = ensure_experiment(settings, settings.monitoring_experiment)
    client = mlflow.MlflowClient()
    client.set_experiment_tag(experiment_id, NOTE_TAG, "our own words")

    ensure_experiment(settings, settings.monitoring_experiment)

    assert client.get_experiment(experiment_id).tags[NOTE_TAG] == "our own words"


def test_ensure_experiment_tags_unknown_experiment_with_kind_only(settings):
    experiment_id = ensure_experiment(settings, "scratch")

    tags = mlflow.MlflowClient().get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT_KIND
    assert NOTE_TAG not in tags


def test_describe_run_sets_run_description(settings):
    with mlflow.start_run(experiment_id=ensure_experiment(settings, "scratch")) as run:
        describe_run(run.info.run_id, "did a thing")

    assert mlflow.get_run(run.info.run_id).data.tags[NOTE_TAG] == "did a thing"
