"""Task log files for DAG runs that `dag.test()` runs in this process (`burnout demo`, the DAG tests).

`dag.test()` runs each task in-process: its log goes to the console, and no file is written where the Airflow
UI looks for a task's log (`<base_log_folder>/<log_filename_template>`). `airflow standalone` of `burnout
local up` shares the demo's AIRFLOW_HOME (same metadata DB, same base_log_folder), so it lists the demo's
runs; with these files it also shows their task logs. JSON lines, as Airflow's own task logs are.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


class TaskLogFiles(logging.Handler):
    """Appends each record emitted while an Airflow task executes to the log file of that task's try."""

    def __init__(self, base_log_folder: Path, filename_template: str, level: int = logging.INFO) -> None:
        import jinja2

        super().__init__(level=level)
        self.base_log_folder = Path(base_log_folder)
        self.filename = jinja2.Template(filename_template)

    def path_of(self, ti) -> Path:
        """The file the UI reads for try `ti.try_number` of task instance `ti`."""
        return self.base_log_folder / self.filename.render(ti=ti, try_number=ti.try_number)

    def emit(self, record: logging.LogRecord) -> None:
        ti = _running_task_instance()
        if ti is None:
            return
        try:
            event = record.getMessage()
            if record.exc_info:
                event = f"{event}\n{logging.Formatter().formatException(record.exc_info)}"
            line = {
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": event,
            }
            path = self.path_of(ti)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(line, default=str) + "\n")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def writing_task_log_files() -> Iterator[TaskLogFiles]:
    """While open, log records of in-process Airflow tasks also go to their task log files (Airflow's
    configured base_log_folder and log_filename_template: configure Airflow first)."""
    from airflow.configuration import conf

    handler = TaskLogFiles(
        Path(conf.get("logging", "base_log_folder")), conf.get("logging", "log_filename_template")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _running_task_instance():
    """The task instance whose execute() runs now in this process, or None outside a task."""
    from airflow.sdk import get_current_context

    try:
        return get_current_context()["ti"]
    except Exception:  # no task is executing
        return None
