"""Run the project's DAGs in this process with real Airflow (`dag.test()`, SQLite metadata DB): the harness of
`burnout demo` and of the DAG tests.

Airflow reads its configuration when it is first imported, so `configure_airflow` must run before anything
imports `airflow`; every Airflow import here is therefore inside a function. Airflow's console logs go to
stderr so that stdout keeps only what the command prints for the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from burnout_base.settings import Settings
from burnout_dev.task_environment import settings_in_environment
from burnout_dev.task_log_files import writing_task_log_files
from dag_helpers.defaults import TASK_FAILURE_LOGGER

log = logging.getLogger(__name__)

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"
# Airflow's own chatter (execution API, DAG parsing, migrations) hides the task logs a user wants to read.
QUIET_NAMESPACES = (
    "airflow.api_fastapi=WARNING airflow.dag_processing=WARNING airflow.models=WARNING "
    "airflow.serialization=WARNING airflow.sdk.api=WARNING alembic=WARNING"
)


class DagRunFailed(RuntimeError):
    """A DAG run ended in a state other than success; the message names the failed tasks."""


def airflow_environment(airflow_home: Path) -> dict[str, str]:
    """The environment that points Airflow at `airflow_home`: SQLite metadata DB, the project's DAGs, no
    example DAGs."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
    }


def configure_airflow(airflow_home: Path) -> None:
    """Point this process's Airflow at `airflow_home`; re-points an already imported Airflow as well."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_environment(airflow_home))
    os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", QUIET_NAMESPACES)
    if "airflow.settings" in sys.modules:
        from airflow import settings as airflow_settings

        if os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] != airflow_settings.SQL_ALCHEMY_CONN:
            # Airflow was imported with another home (e.g. by an earlier test): rebuild its engine.
            airflow_settings.configure_vars()
            airflow_settings.reconfigure_orm()
    with _airflow_logs_to_stderr():
        import airflow  # noqa: F401  (reads the configuration set above)


def ensure_airflow_db() -> bool:
    """Create or migrate the metadata DB unless it is already at Airflow's head revision; True if it ran."""
    with _airflow_logs_to_stderr():
        from airflow.utils import db

        with db._configured_alembic_environment() as env:
            current = set(env.get_context().get_current_heads())
            if current == set(env.script.get_heads()):
                return False
        log.info("migrating the Airflow metadata DB (once per AIRFLOW_HOME)")
        db.upgradedb()
        return True


def load_dag(dag_id: str):
    """Parse the DAGs folder and return the DAG `dag_id`, failing with the folder's import errors."""
    with _airflow_logs_to_stderr():
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(DAGS_FOLDER))
        dag = bag.dags.get(dag_id)
        if dag is None:
            raise LookupError(
                f"DAG {dag_id!r} not found in {DAGS_FOLDER}; import errors: {bag.import_errors}"
            )
        return dag


def run_dag(dag, settings: Settings, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one DagRun of `dag` in this process with `settings` handed to its tasks; returns the run's state,
    each task's state and tries, and the tasks' return values."""
    started = time.monotonic()
    failures = _FailureLines()
    # Task log files where the Airflow UI of `burnout local up` (same AIRFLOW_HOME) reads them.
    with (
        settings_in_environment(settings),
        _airflow_logs_to_stderr(),
        failures.collecting(),
        writing_task_log_files(),
    ):
        dag_run = dag.test(run_conf=conf or {})
    summary = summarize_run(dag_run)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["errors"] = failures.lines
    if summary["state"] == "success":
        log.info("DAG run %s/%s succeeded in %.1fs", dag.dag_id, summary["run_id"], summary["seconds"])
    else:
        log.error(
            "DAG run %s/%s ended %s: failed tasks %s",
            dag.dag_id,
            summary["run_id"],
            summary["state"],
            summary["failed_tasks"] or "none (see the log above)",
        )
    return summary


def require_success(summary: dict[str, Any]) -> dict[str, Any]:
    """Raise `DagRunFailed` naming the failed tasks and why, unless the run in `summary` succeeded."""
    if summary["state"] != "success":
        why = "; ".join(summary.get("errors") or []) or "the task log above says why"
        raise DagRunFailed(
            f"DAG run {summary['dag_id']}/{summary['run_id']} {summary['state']}: failed tasks "
            f"{', '.join(summary['failed_tasks']) or 'none'} ({why})"
        )
    return summary


def summarize_run(dag_run) -> dict[str, Any]:
    """Task states, tries, durations and return values of a finished DagRun, as plain data."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = sorted(
            dag_run.get_task_instances(session=session), key=lambda ti: (ti.task_id, ti.map_index)
        )
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key="return_value")
        ).all()
        values = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    tasks, outputs = [], {}
    for ti in instances:
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks.append(
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state),
                "tries": ti.try_number,
                "seconds": round(seconds, 1) if seconds is not None else None,
            }
        )
        if (ti.task_id, ti.map_index) in values:
            value = values[(ti.task_id, ti.map_index)]
            if ti.map_index < 0:
                outputs[ti.task_id] = value
            else:
                outputs.setdefault(ti.task_id, []).append(value)
    failed = sorted({t["task_id"] for t in tasks if t["state"] == "failed"})
    return {
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "failed_tasks": failed,
        "tasks": tasks,
        "outputs": outputs,
    }


class _FailureLines(logging.Handler):
    """Collects the one-line reasons that dag_helpers.defaults.log_task_failure logs while a run goes on."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        logger = logging.getLogger(TASK_FAILURE_LOGGER)
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)


@contextlib.contextmanager
def _airflow_logs_to_stderr() -> Iterator[None]:
    # Airflow binds its console handler to whatever sys.stdout is when it configures logging.
    with contextlib.redirect_stdout(sys.stderr):
        yield
