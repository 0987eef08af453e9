"""Background processes that outlive the command which started them: start detached with a pid file and a
log, wait until they answer over HTTP, and stop their whole tree so that nothing is left behind."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Managed:
    """A process we started: `pid` leads its own session and process group."""

    name: str
    pid: int
    create_time: float
    log: Path


def start_detached(name: str, command: list[str], env: dict[str, str], run_dir: Path, cwd: Path) -> Managed:
    """Start `command` in a new session (so that it survives us and can be stopped as a group)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / f"{name}.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    managed = Managed(name, process.pid, psutil.Process(process.pid).create_time(), log_path)
    _pid_file(run_dir, name).write_text(json.dumps({"pid": managed.pid, "create_time": managed.create_time}))
    log.info("started %s (pid %d), log %s", name, managed.pid, log_path)
    return managed


def read_running(run_dir: Path, name: str) -> Managed | None:
    """The process recorded in `name`'s pid file if it still runs; a stale pid file is removed."""
    path = _pid_file(run_dir, name)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    try:
        # The create time guards against a recycled pid that now belongs to someone else.
        alive = psutil.Process(record["pid"]).create_time() == record["create_time"]
    except psutil.NoSuchProcess:
        alive = False
    if not alive:
        path.unlink()
        return None
    return Managed(name, record["pid"], record["create_time"], run_dir / f"{name}.log")


def wait_until_answers(url: str, name: str, alive: Callable[[], bool], log: Path, timeout: float) -> None:
    """Poll `url` until it answers with a status below 500 (a readiness probe's 503 keeps waiting); fail
    early, with the last lines of `log`, when `alive()` says the process died, and at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{name} exited during startup; last log lines:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=3).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f}s; last log lines:\n{tail(log)}")


def stop_process_tree(pid: int, timeout: float = 15) -> None:
    """Stop a process and every descendant (MLflow's and uvicorn's CLIs run their servers as children)."""
    terminate(process_tree(pid), timeout)


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants; empty when it is gone."""
    with _ignore_gone():
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_tree(run_dir: Path, name: str, timeout: float = 30) -> int | None:
    """Stop `name`'s process, its process group and every descendant; return its pid if it was running."""
    managed = read_running(run_dir, name)
    _pid_file(run_dir, name).unlink(missing_ok=True)
    if managed is None:
        return None
    targets = process_tree(managed.pid)  # listed before the signal, while they are still its children
    # Some descendants (Airflow's task supervisors) move into process groups of their own, so they are
    # signalled one by one as well as through the group we created.
    with _ignore_gone():
        os.killpg(managed.pid, signal.SIGTERM)
    terminate(targets, timeout)
    return managed.pid


def find_marked(key: str, value: str) -> list[psutil.Process]:
    """Processes of this user whose environment holds `key=value` (everything the local stack started)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(key) == value:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def terminate(processes: list[psutil.Process], timeout: float) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL whatever still runs."""
    for process in processes:
        with _ignore_gone():
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        log.warning("%s (pid %d) ignored SIGTERM; killing it", process.name(), process.pid)
        with _ignore_gone():
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on `host:port`."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (empty when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def is_alive(managed: Managed) -> bool:
    """Whether the process recorded as `managed` still runs (the same process, not a reused pid)."""
    try:
        process = psutil.Process(managed.pid)
        return process.create_time() == managed.create_time and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


class _ignore_gone:
    """Context manager: a process that exited between listing and signalling is not an error."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        return exc_type is not None and issubclass(exc_type, (psutil.NoSuchProcess, ProcessLookupError))
