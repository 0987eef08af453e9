"""The task logs of an in-process `dag.test()` run land where the Airflow UI reads them: drift_monitor runs
on an empty prediction log under writing_task_log_files, and Airflow's own log reader (the one behind the UI's
log view) returns the line its task logged."""

from __future__ import annotations

import pytest

from burnout_dev.airflow_runner import load_dag, run_dag
from burnout_dev.task_log_files import writing_task_log_files

pytestmark = pytest.mark.slow


def test_in_process_task_logs_are_readable_by_airflow(airflow_home, settings):
    from airflow.models.dagrun import DagRun
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    with writing_task_log_files() as handler:
        summary = run_dag(load_dag("drift_monitor"), settings)

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id="drift_monitor", run_id=summary["run_id"]).one()
        ti = run.get_task_instance("check_drift", session=session)
        path = handler.path_of(ti)
        assert path.is_relative_to(airflow_home / "logs")
        assert path.name == f"attempt={ti.try_number}.log"
        lines, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
    events = [str(getattr(line, "event", "")) for line in lines]
    assert any(event.startswith("drift check skipped: 0 logged predictions") for event in events), events
