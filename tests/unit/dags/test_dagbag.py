"""The DAGs folder as Airflow sees it: every file imports, with the expected ids, tags, schedules, budget
params, retries and documentation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dag_helpers.defaults import DRIFT_ASSET, OWNER, PROCESSED_DATASET_ASSET, QUALITY_ASSET

FAMILY_DAGS = {"train_lightgbm", "train_knn", "train_svm"}


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    from burnout_dev.airflow_runner import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_import_dags_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "etl_mlflow",
        "burnout_pipeline",
        "batch_score",
        "drift_monitor",
        "model_quality",
        *FAMILY_DAGS,
    }


def test_build_training_dags_from_families(dagbag):
    from modeling.families import FAMILIES

    assert {f"train_{family}" for family in FAMILIES} == FAMILY_DAGS


@pytest.mark.parametrize(
    ("dag_id", "tags"),
    [
        ("etl_mlflow", {"burnout", "etl"}),
        ("burnout_pipeline", {"burnout", "pipeline"}),
        ("train_lightgbm", {"burnout", "training", "lightgbm"}),
        ("train_knn", {"burnout", "training", "knn"}),
        ("train_svm", {"burnout", "training", "svm"}),
        ("batch_score", {"burnout", "scoring"}),
        ("drift_monitor", {"burnout", "monitoring", "drift"}),
        ("model_quality", {"burnout", "monitoring", "quality"}),
    ],
)
def test_describe_dag_with_tags_owner_docs_and_timeout(dagbag, dag_id, tags):
    dag = dagbag.get_dag(dag_id)
    assert tags <= set(dag.tags)
    assert dag.owner == OWNER
    assert dag.doc_md and f"### {dag_id}" in dag.doc_md
    assert dag.dagrun_timeout is not None
    assert dag.max_active_runs == 1


def test_schedule_etl_and_batch_scoring_by_hand_only(dagbag):
    for dag_id in ("etl_mlflow", "batch_score"):
        assert dagbag.get_dag(dag_id).schedule is None, dag_id


def test_schedule_pipeline_on_drift_asset_and_drift_monitor_daily(dagbag):
    pipeline, monitor = dagbag.get_dag("burnout_pipeline"), dagbag.get_dag("drift_monitor")
    # Either asset triggers a run (AssetAny), not both together.
    assert type(pipeline.schedule).__name__ == "AssetAny"
    assert [asset.name for asset in pipeline.schedule.objects] == [DRIFT_ASSET, QUALITY_ASSET]
    assert monitor.schedule == "30 23 * * *"
    for dag in (pipeline, monitor):  # both must act where the stack pauses new DAGs
        assert dag.is_paused_upon_creation is False, dag.dag_id
    assert set(monitor.params.keys()) == {"start", "end", "days"}
    assert monitor.get_task("request_retraining").upstream_task_ids == {"check_drift"}


def test_model_quality_runs_daily_unpaused_and_requests_retraining_after_its_check(dagbag):
    from burnout_base.settings import Settings

    dag = dagbag.get_dag("model_quality")
    assert dag.schedule == "45 23 * * *"
    assert dag.is_paused_upon_creation is False
    assert set(dag.params.keys()) == {"end", "days"}
    assert dag.params["end"] is None and dag.params["days"] is None
    assert dag.get_task("request_retraining").upstream_task_ids == {"check_quality"}
    days = dag.params.get_param("days").description
    default = Settings.model_fields["quality_window_days"].default
    assert f"BURNOUT_QUALITY_WINDOW_DAYS (default {default})" in days


def test_schedule_training_on_processed_dataset_asset(dagbag):
    for dag_id in FAMILY_DAGS:
        dag = dagbag.get_dag(dag_id)
        assert [asset.name for asset in dag.schedule] == [PROCESSED_DATASET_ASSET], dag_id


def test_activate_asset_consumers_even_where_new_dags_start_paused(dagbag):
    # The stack sets DAGS_ARE_PAUSED_AT_CREATION: a paused consumer would ignore every new dataset version.
    for dag_id in FAMILY_DAGS:
        assert dagbag.get_dag(dag_id).is_paused_upon_creation is False, dag_id


def test_announce_processed_dataset_from_etl_only(dagbag):
    outlets = {
        (dag.dag_id, task.task_id): [a.name for a in task.outlets]
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if task.outlets
    }
    assert outlets == {
        ("etl_mlflow", "announce_dataset"): [PROCESSED_DATASET_ASSET],
        ("drift_monitor", "request_retraining"): [DRIFT_ASSET],
        ("model_quality", "request_retraining"): [QUALITY_ASSET],
    }


@pytest.mark.parametrize("dag_id", ["burnout_pipeline", *sorted(FAMILY_DAGS)])
def test_offer_tuning_budget_on_trigger_form(dagbag, dag_id):
    params = dagbag.get_dag(dag_id).params
    assert params["trials"] is None and params["timeout_s"] is None  # None = Variables, then settings
    assert params["tuning_workers"] is None
    assert params.get_param("trials").schema["minimum"] == 1
    assert params.get_param("tuning_workers").schema["minimum"] == 1
    assert params.get_param("tuning_workers").schema["maximum"] == 16


@pytest.mark.parametrize("dag_id", ["burnout_pipeline", *sorted(FAMILY_DAGS)])
def test_trigger_form_states_the_settings_defaults(dagbag, dag_id):
    from burnout_base.settings import Settings

    defaults = Settings.model_fields
    params = dagbag.get_dag(dag_id).params
    trials = params.get_param("trials").description
    timeout = params.get_param("timeout_s").description
    assert f"BURNOUT_TUNING_TRIALS (default {defaults['tuning_trials'].default};" in trials
    assert f"`burnout demo` asks for {defaults['demo_trials'].default})" in trials
    assert f"(default {defaults['tuning_timeout_s'].default:g} s)" in timeout
    workers = params.get_param("tuning_workers").description
    assert f"BURNOUT_TUNING_WORKERS (default {defaults['tuning_workers'].default}; compose sets 2)" in workers


def test_drift_form_states_the_default_window(dagbag):
    from burnout_base.settings import Settings

    days = dagbag.get_dag("drift_monitor").params.get_param("days").description
    assert f"BURNOUT_DRIFT_WINDOW_DAYS (default {Settings.model_fields['drift_window_days'].default})" in days


def test_retry_network_tasks_with_exponential_backoff(dagbag):
    pipeline = dagbag.get_dag("burnout_pipeline")
    for task_id in ("ingest", "run_etl", "train", "train_ensemble", "promote", "notify_api", "summarize"):
        task = pipeline.get_task(task_id)
        assert task.retries >= 1, task_id
        assert task.retry_exponential_backoff > 1, task_id
        assert task.max_retry_delay is not None, task_id


def render_map_index(dag, task, **op_kwargs) -> str:
    template = dag.get_template_env().from_string(task.map_index_template)
    return template.render(task=SimpleNamespace(op_kwargs=op_kwargs))


def test_train_families_in_parallel_with_mapping(dagbag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from modeling.families import FAMILIES

    pipeline = dagbag.get_dag("burnout_pipeline")
    plan, tune, train = (pipeline.get_task(t) for t in ("plan_training", "tune", "train"))
    assert all(isinstance(task, MappedOperator) for task in (plan, tune, train))
    assert list(plan._get_specified_expand_input().value["family"]) == list(FAMILIES)
    # Every family's plan crossed with the K worker indexes; a family registers once, after the tuning.
    assert set(tune._get_specified_expand_input().value) == {"plan", "worker"}
    assert tune.upstream_task_ids == {"plan_training", "list_tuning_workers"}
    assert pipeline.get_task("list_tuning_workers").upstream_task_ids == {"choose_budget"}
    assert set(train._get_specified_expand_input().value) == {"plan"}
    assert train.upstream_task_ids == {"plan_training", "tune"}
    # The UI shows each mapped instance by its family (and worker), not 0, 1, 2.
    assert render_map_index(pipeline, plan, family="knn", budget={}) == "knn"
    assert render_map_index(pipeline, tune, plan={"family": "knn"}, worker=1) == "knn #1"
    assert render_map_index(pipeline, train, plan={"family": "svm"}) == "svm"
    assert pipeline.get_task("train_ensemble").upstream_task_ids == {"run_etl", "train"}
    assert pipeline.get_task("promote").upstream_task_ids == {"train", "train_ensemble"}
    assert pipeline.get_task("notify_api").upstream_task_ids == {"promote"}
    summarize = pipeline.get_task("summarize")
    assert summarize.upstream_task_ids == {"run_etl", "train", "train_ensemble", "promote", "notify_api"}


def test_pipeline_dag_runs_the_declared_steps_in_their_order(dagbag):
    from pipeline.steps import STEPS

    pipeline = dagbag.get_dag("burnout_pipeline")
    step_of = {task_id: step.name for step in STEPS for task_id in step.dag_tasks}
    assert set(step_of) == set(pipeline.task_ids)  # every task runs a declared step
    position = {step.name: index for index, step in enumerate(STEPS)}
    given_by = {step.gives: step.name for step in STEPS}
    for step in STEPS:
        tasks = [pipeline.get_task(task_id) for task_id in step.dag_tasks]
        before = {step_of[t.task_id] for task in tasks for t in task.get_flat_relatives(upstream=True)}
        # Never after a step declared later; after every step whose output it takes.
        assert all(position[name] <= position[step.name] for name in before), step.name
        taken = {given_by[name] for name in step.takes if name in given_by}
        assert taken <= before | {step.name}, step.name


def test_batch_score_takes_input_output_model_and_partition_size_on_trigger_form(dagbag):
    dag = dagbag.get_dag("batch_score")
    params = dag.params
    assert params["input"] is None and params["output"] is None  # the raw object; beside the input
    assert params["model"] == "champion"
    assert params["partition_bytes"] is None  # BURNOUT_SCORE_PARTITION_BYTES
    assert [task.task_id for task in dag.tasks] == ["plan", "list_partitions", "score", "account"]
    assert all(dag.get_task(task_id).retries >= 1 for task_id in ("plan", "score", "account"))


def test_batch_score_maps_one_scoring_task_per_partition_then_accounts(dagbag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.get_dag("batch_score")
    score = dag.get_task("score")
    assert isinstance(score, MappedOperator)
    assert score.upstream_task_ids == {"plan", "list_partitions"}
    assert dag.get_task("account").upstream_task_ids == {"plan", "score"}
    # The UI names each mapped instance by its partition and lines, not 0, 1, 2.
    partition = {"index": 3, "name": "part-00003 lines 2-101"}
    assert render_map_index(dag, score, plan={}, partition=partition) == "part-00003 lines 2-101"
