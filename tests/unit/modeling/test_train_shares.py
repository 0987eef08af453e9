"""Training one family as K tuning workers over one shared study: the plan creates the study, its starting
trial and the MLflow run once; the workers share the study, sample with their own seeds, stop together at the
budget and name their host; the family is registered once, from the study's best trial."""

from __future__ import annotations

import socket
import threading
import uuid

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from burnout_base.tracking import configure_mlflow
from modeling.families import FAMILIES
from modeling.train import plan_training, register_best, tune_share
from modeling.tune import FINISHED, HOST_ATTR, WORKER_ATTR, open_study, tune_family

BUDGET = {"trials": 4, "timeout_s": None, "workers": 2}


@pytest.fixture
def isolated(published_settings, tmp_path):
    """The published dataset, with a study storage and a registered model of this test's own (the MLflow
    store is shared)."""
    return published_settings.model_copy(
        update={
            "registered_model_name": f"shares-{uuid.uuid4().hex[:8]}",
            "optuna_storage": f"sqlite:///{tmp_path / 'optuna.db'}",
        }
    )


def load(settings, plan) -> optuna.Study:
    return optuna.load_study(study_name=plan["study_name"], storage=settings.optuna_storage)


def test_plan_creates_the_study_with_one_starting_trial_and_a_running_parent_run(isolated):
    plan = plan_training("knn", isolated, None, BUDGET)

    study = load(isolated, plan)
    assert [t.state for t in study.trials] == [TrialState.WAITING]
    assert study.trials[0].system_attrs["fixed_params"] == FAMILIES["knn"].starting_params
    assert plan["workers"] == [0, 1] and plan["reused"] is None
    configure_mlflow(isolated)
    run = mlflow.get_run(plan["run_id"])
    assert run.info.status == "RUNNING"  # the workers' trial runs nest under it; register_best ends it
    assert run.data.tags["optuna_study"] == plan["study_name"]


def test_workers_share_the_study_stop_at_its_budget_and_name_their_host(isolated, optuna_postgres_url):
    if optuna_postgres_url is None:
        pytest.skip("needs a local Postgres (the stack's Optuna storage)")
    settings = isolated.model_copy(update={"optuna_storage": optuna_postgres_url})
    plan = plan_training("knn", settings, None, BUDGET)
    results, errors = {}, []

    def work(worker: int) -> None:
        try:
            results[worker] = tune_share(plan, settings, worker)
        except Exception as error:  # surfaced by the assertion below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in plan["workers"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    finished = load(settings, plan).get_trials(states=FINISHED)
    # Trials still running when the budget is reached finish: at most budget + K - 1.
    assert BUDGET["trials"] <= len(finished) <= BUDGET["trials"] + len(plan["workers"]) - 1
    assert {results[w]["host"] for w in plan["workers"]} == {socket.gethostname()}
    assert all(t.user_attrs[HOST_ATTR] == socket.gethostname() for t in finished)
    # Which worker ran how many is the scheduler's business (the stack test checks both hosts contribute).
    assert {t.user_attrs[WORKER_ATTR] for t in finished} <= {0, 1}
    assert sum(t.params == FAMILIES["knn"].starting_params for t in finished) >= 1

    configure_mlflow(settings)
    trial_runs = mlflow.search_runs(
        [mlflow.get_run(plan["run_id"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{plan['run_id']}'",
        output_format="list",
    )
    assert len(trial_runs) == len(finished)
    assert {run.data.tags[HOST_ATTR] for run in trial_runs} == {socket.gethostname()}


def test_each_worker_samples_with_its_own_seed(isolated):
    def sampled(worker: int, version: str) -> list[dict]:
        study = tune_family(FAMILIES["knn"], *_train(isolated), isolated, version, 3, worker=worker)
        return [t.params for t in study.trials[1:]]  # after the shared starting trial

    first, again, other = sampled(0, "seed-a"), sampled(0, "seed-b"), sampled(1, "seed-c")
    assert first == again  # reproducible per worker index
    assert first != other  # two workers do not suggest the same trials


def test_register_once_from_the_best_trial_and_reuse_when_asked(isolated):
    plan = plan_training("knn", isolated, None, {"trials": 2, "timeout_s": None, "workers": 1})
    tune_share(plan, isolated, 0)

    first = register_best(plan, isolated)
    again = register_best(plan, isolated)  # a retried task: the same version, nothing registered

    best = open_study(FAMILIES["knn"], isolated, plan["dataset_version"]).best_trial
    assert first["best_params"] == best.user_attrs["params"]
    assert first["cv_macro_f1"] == pytest.approx(best.value)
    assert sum(first["trials_by_host"].values()) == 2 and first["reused"] is False
    assert again["model_version"] == first["model_version"]
    client = mlflow.MlflowClient()
    assert len(client.search_model_versions(f"name='{isolated.registered_model_name}'")) == 1
    assert mlflow.get_run(plan["run_id"]).info.status == "FINISHED"

    reuse = plan_training("knn", isolated, plan["dataset_version"], BUDGET, retrain=False)
    assert reuse["reused"]["model_version"] == first["model_version"]
    assert tune_share(reuse, isolated, 1)["skipped"] is True
    assert register_best(reuse, isolated)["reused"] is True
    assert len(client.search_model_versions(f"name='{isolated.registered_model_name}'")) == 1


def _train(settings):
    from etl.dataset import load_dataset

    dataset = load_dataset(settings)
    return dataset.X_train, dataset.y_train
