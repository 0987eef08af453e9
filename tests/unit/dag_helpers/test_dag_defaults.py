"""The shared DAG defaults: retries with backoff, and one clear log line when a task retries or gives up."""

from __future__ import annotations

from types import SimpleNamespace

from dag_helpers.defaults import log_task_failure, log_task_retry, task_defaults


def _context(try_number: int) -> dict:
    ti = SimpleNamespace(dag_id="etl_mlflow", task_id="run_etl", try_number=try_number)
    return {"ti": ti, "exception": ConnectionError("lake unreachable at http://127.0.0.1:9")}


def test_task_defaults_retry_with_exponential_backoff():
    args = task_defaults(retries=2)

    assert args["retries"] == 2
    assert args["retry_exponential_backoff"] > 1
    assert args["max_retry_delay"] > args["retry_delay"]


def test_log_task_failure_names_task_tries_and_cause(caplog):
    with caplog.at_level("ERROR", logger="burnout.dags"):
        log_task_failure(_context(try_number=3))

    assert "task etl_mlflow.run_etl FAILED after 3 tries: ConnectionError: lake unreachable" in caplog.text


def test_log_task_retry_says_it_retries(caplog):
    with caplog.at_level("WARNING", logger="burnout.dags"):
        log_task_retry(_context(try_number=1))

    assert "etl_mlflow.run_etl failed on try 1" in caplog.text and "retrying" in caplog.text
