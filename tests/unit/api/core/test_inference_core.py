"""The inference core over an in-memory registry: readiness, atomic swaps, errors, MLflow outages, metrics."""

from __future__ import annotations

import threading
import time

import pytest

from burnout_api.core import InvalidInput, ModelUnavailable, NoModelYet, UnknownAlias
from burnout_api.core.poller import backoff_delay
from burnout_api.schemas import EXAMPLE_RECORD


@pytest.fixture
def pipelines(lightgbm_pipeline, knn_pipeline):
    return {1: lightgbm_pipeline, 2: knn_pipeline, 3: lightgbm_pipeline}


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def test_without_a_champion_the_core_is_not_ready_and_says_what_to_run(make_core, make_store, pipelines):
    core = make_core(make_store(pipelines))
    assert core.readiness()["state"] == "starting"
    core.refresh()
    assert core.readiness() | {"checked_at": None} == {
        "ready": False,
        "state": "no_model",
        "mlflow": "reachable",
        "champion_version": None,
        "last_error": None,
        "checked_at": None,
    }
    with pytest.raises(NoModelYet, match="burnout_pipeline"):
        core.predict([EXAMPLE_RECORD])
    assert 'kind="no_model"' in core.metrics.render().decode()


def test_the_first_champion_is_picked_up_on_demand(make_core, make_store, pipelines):
    store = make_store(pipelines)
    core = make_core(store, on_demand_refresh_s=0)  # rate-limited to one a second in service
    core.refresh()
    store.aliases["champion"] = 1
    assert core.predict([EXAMPLE_RECORD]).model.version == 1
    assert core.readiness()["ready"] is True


def test_every_alias_is_served_and_shared_versions_load_once(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1, "lightgbm": 1, "knn": 2})
    core = make_core(store)
    core.refresh()
    assert sorted(store.loads) == [1, 2]
    assert [m["alias"] for m in core.list_models()] == ["champion", "knn", "lightgbm"]
    assert core.describe_model("knn") | {"loaded_at": None} == {
        "alias": "knn",
        "version": 2,
        "family": "family-2",
        "run_id": "run-2",
        "dataset_version": "ds-1",
        "test_metrics": {"macro_f1": 0.52},
        "loaded_at": None,
        "fast_path": True,
        "compiled": False,  # only LightGBM versions compile their trees
        "explainer": None,  # a KNN is explained against a background sample, which this store has none of
        "links": None,
        "loaded": True,
    }
    assert core.predict([EXAMPLE_RECORD], alias="knn").model.version == 2
    with pytest.raises(UnknownAlias, match="champion, knn, lightgbm"):
        core.predict([EXAMPLE_RECORD], alias="svm")


def test_a_moved_alias_is_swapped_while_requests_keep_being_answered(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1})
    core = make_core(store)
    core.refresh()
    in_flight = core.snapshot.models["champion"]
    store.aliases["champion"] = 2
    store.load_gate = threading.Event()
    swapping = threading.Thread(target=core.refresh)
    swapping.start()
    wait_until(lambda: core._write_lock.locked())
    # While version 2 loads, version 1 keeps answering.
    assert core.predict([EXAMPLE_RECORD]).model.version == 1
    store.load_gate.set()
    swapping.join(10)
    assert core.predict([EXAMPLE_RECORD]).model.version == 2
    # A request that picked version 1 before the swap finishes on it.
    assert in_flight.metadata.version == 1 and in_flight.predict is not None


def test_an_unreachable_registry_keeps_the_loaded_models_serving(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1})
    core = make_core(store)
    core.refresh()
    store.reachable = False
    core.refresh()
    readiness = core.readiness()
    assert readiness["ready"] is True and readiness["mlflow"] == "unreachable"
    assert readiness["last_error"] == "MLflow is unreachable"  # the exception's own text stays in the log
    assert core.predict([EXAMPLE_RECORD]).model.version == 1
    assert "burnout_mlflow_reachable 0.0" in core.metrics.render().decode()
    store.reachable = True
    core.refresh()
    assert core.readiness()["mlflow"] == "reachable" and core.readiness()["last_error"] is None


def test_without_registry_nor_model_the_state_says_mlflow_is_unreachable(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1})
    store.reachable = False
    core = make_core(store, on_demand_refresh_s=0)
    core.refresh()
    assert core.readiness()["state"] == "mlflow_unreachable"
    with pytest.raises(ModelUnavailable, match="MLflow is unreachable"):
        core.predict([EXAMPLE_RECORD])


def test_a_version_that_fails_to_load_leaves_the_alias_on_the_previous_one(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1})
    core = make_core(store)
    core.refresh()
    store.aliases["champion"] = 99  # no such pipeline: the load raises
    core.refresh()
    assert core.predict([EXAMPLE_RECORD]).model.version == 1
    assert core.readiness()["last_error"] == "version 99 could not be loaded (the service log says why)"


def test_bad_input_is_refused_before_any_model_is_needed(make_core, make_store, pipelines):
    core = make_core(make_store(pipelines))
    with pytest.raises(InvalidInput):
        core.predict([])
    with pytest.raises(InvalidInput, match="not valid JSON"):
        core.predict(b"{oops")


def test_predictions_are_counted_by_protocol_alias_and_version(make_core, make_store, pipelines):
    core = make_core(make_store(pipelines, {"champion": 3}))
    core.refresh()
    core.predict([EXAMPLE_RECORD] * 2, protocol="grpc")
    with pytest.raises(InvalidInput):
        core.predict([{}], protocol="graphql")
    text = core.metrics.render().decode()
    assert 'burnout_predict_requests_total{alias="champion",protocol="grpc",version="3"} 1.0' in text
    assert 'burnout_predict_records_total{alias="champion",protocol="grpc",version="3"} 2.0' in text
    assert (
        'burnout_predict_errors_total{alias="champion",kind="invalid_input",protocol="graphql"} 1.0' in text
    )
    assert 'burnout_model_loaded{alias="champion",family="family-3",version="3"} 1.0' in text


def test_the_poller_picks_up_a_new_champion_without_a_restart(make_core, make_store, pipelines):
    store = make_store(pipelines)
    core = make_core(store, alias_poll_s=0.1)
    changes: list[bool] = []
    core.add_readiness_listener(changes.append)
    core.start()
    wait_until(lambda: core.readiness()["state"] == "no_model")
    store.aliases["champion"] = 1
    wait_until(core.is_ready)
    store.aliases["champion"] = 2
    wait_until(lambda: core.snapshot.models["champion"].metadata.version == 2)
    core.stop()
    assert changes == [False, True]


def test_backoff_grows_while_the_registry_fails():
    assert backoff_delay(10.0, 0) == 10.0
    assert [backoff_delay(10.0, n) for n in (1, 2, 3, 6, 9)] == [1.0, 2.0, 4.0, 30.0, 30.0]
    assert [backoff_delay(0.2, n) for n in (1, 2, 9)] == [0.2, 0.4, 30.0]


def test_unknown_aliases_share_one_refresh_and_answer_in_bounded_time_while_mlflow_hangs(
    make_core, make_store, pipelines
):
    from concurrent.futures import ThreadPoolExecutor

    from burnout_api.core.inference import ALIAS_WAIT_S

    store = make_store(pipelines, {"champion": 1})
    core = make_core(store, on_demand_refresh_s=0, alias_poll_s=60)  # every request may ask for one
    core.start()
    wait_until(lambda: core.is_ready())
    store.fetch_gate = threading.Event()  # from now on the registry hangs
    fetches = store.fetches

    def ask(index: int) -> tuple[str, float]:
        started = time.monotonic()
        try:
            core.predict([EXAMPLE_RECORD], alias=f"unknown{index}")
        except Exception as exc:
            return type(exc).__name__, time.monotonic() - started
        return "answered", time.monotonic() - started

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert store.fetches - fetches == 1  # one refresh for all sixteen (counted while it still hangs)
    store.fetch_gate.set()
    assert {kind for kind, _ in answers} == {"UnknownAlias"}
    assert max(seconds for _, seconds in answers) < ALIAS_WAIT_S + 1.0
    assert core.predict([EXAMPLE_RECORD]).model.version == 1  # the champion was served throughout


def test_a_version_two_aliases_share_is_tried_once_per_refresh_when_it_fails(
    make_core, make_store, pipelines
):
    store = make_store(pipelines, {"champion": 99, "lightgbm": 99, "knn": 99})
    core = make_core(store)
    attempts = []
    original = store.load_version
    store.load_version = lambda version: attempts.append(version) or original(version)
    core.refresh()
    assert attempts == [99]


def test_an_alias_mlflow_could_not_have_is_refused_before_the_registry(make_core, make_store, pipelines):
    store = make_store(pipelines, {"champion": 1})
    core = make_core(store)
    core.refresh()
    fetches = store.fetches
    for alias in ("", "x" * 300, "a b", "champion\n"):
        with pytest.raises(InvalidInput, match="model"):
            core.predict([EXAMPLE_RECORD], alias=alias)
    assert store.fetches == fetches
