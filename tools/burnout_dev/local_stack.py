"""The platform's services as local processes, for machines without Docker (`make local-up` / `local-down`).

`up` starts, each detached with a pid file and a log under `<BURNOUT_HOME>/run/`:
- `mlflow server` on `BURNOUT_MLFLOW_PORT` (5001), backed by the same store the embedded mode writes
  (`BURNOUT_MLFLOW_TRACKING_URI`, a SQLite file under the home) with artifacts under the home;
- `airflow standalone` on `BURNOUT_AIRFLOW_PORT` (8080): SQLite metadata DB and LocalExecutor with a small
  parallelism, AIRFLOW_HOME under the home, the repository's `airflow/dags` folder;
- the API (`burnout serve`: REST + GraphQL on `BURNOUT_API_PORT`, gRPC on `BURNOUT_GRPC_PORT`).
Airflow tasks and the API reach MLflow through the local server, as they do in docker compose. `up` returns
once every service answers (a second `up` finds them running); `down` stops every process of the stack,
descendants included.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from burnout_base.settings import Settings
from burnout_dev.airflow_runner import DAGS_FOLDER, airflow_environment
from burnout_dev.processes import (
    Managed,
    find_marked,
    is_alive,
    port_in_use,
    read_running,
    start_detached,
    stop_tree,
    terminate,
    wait_until_answers,
)
from etl.errors import InputError

log = logging.getLogger(__name__)

SERVICES = ("mlflow", "airflow", "api")
# Every process of the stack carries this variable (value: the home), so `down` finds strays by it.
MARKER = "BURNOUT_LOCAL_STACK"
AIRFLOW_PARALLELISM = "2"
STARTUP_TIMEOUT_S = {"mlflow": 180.0, "airflow": 400.0, "api": 180.0}
# Airflow does not need MLflow to start (only its tasks do), so the two boot side by side; the API waits for
# MLflow, whose registry it reads from its first second.
STARTUP_STEPS = (
    ("start", "mlflow"),
    ("start", "airflow"),
    ("wait", "mlflow"),
    ("start", "api"),
    ("wait", "airflow"),
    ("wait", "api"),
)


def up(settings: Settings, services: tuple[str, ...] = SERVICES) -> dict:
    """Start `services` (default: all three) unless already running; return their URLs, pids and logs."""
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise InputError(f"unknown local services {sorted(unknown)}; choose from {list(SERVICES)}")
    settings = settings.with_session_token()  # the API and Airflow's /reload calls share it
    settings.ensure_home()
    run_dir = _run_dir(settings)
    running: dict[str, Managed] = {}
    started: list[str] = []
    _refuse_busy_ports(settings, [name for name in services if read_running(run_dir, name) is None])
    try:
        for step, name in STARTUP_STEPS:
            if name not in services:
                continue
            if step == "start":
                running[name] = read_running(run_dir, name)
                if running[name] is None:
                    running[name] = _start(name, settings)
                    started.append(name)
            else:
                managed = running[name]
                wait_until_answers(
                    _health_url(name, settings),
                    name,
                    lambda managed=managed: is_alive(managed),
                    managed.log,
                    STARTUP_TIMEOUT_S[name],
                )
    except BaseException:
        # Leave nothing half-started behind: what this call started is stopped again.
        for name in started:
            stop_tree(run_dir, name)
        raise
    report = {name: _describe(name, running[name], settings, name in started) for name in running}
    return {"home": str(settings.home), **report}


def down(settings: Settings) -> dict:
    """Stop every service of the local stack and anything they spawned; return what was stopped."""
    run_dir = _run_dir(settings)
    stopped = {name: pid for name in reversed(SERVICES) if (pid := stop_tree(run_dir, name)) is not None}
    strays = find_marked(MARKER, str(settings.home))
    terminate(strays, timeout=15)
    return {"stopped": stopped, "strays_stopped": [p.pid for p in strays], "home": str(settings.home)}


def _refuse_busy_ports(settings: Settings, names: list[str]) -> None:
    """Fail before starting anything when a port the stack needs is taken by someone else."""
    ports = {f"BURNOUT_{name.upper()}_PORT": (name, _port(name, settings)) for name in names}
    if "api" in names:
        ports["BURNOUT_GRPC_PORT"] = ("gRPC", settings.grpc_port)
    for variable, (name, port) in ports.items():
        if port_in_use(port):
            raise InputError(
                f"port {port} for {name} is already in use; stop what listens there or set {variable}"
            )


def _start(name: str, settings: Settings) -> Managed:
    env = _service_env(settings)
    if name == "mlflow":
        command = _mlflow_command(settings)
        # The job runner serves GenAI features this platform does not use and costs ~1 GB of workers.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    elif name == "airflow":
        command = [str(_venv_bin() / "airflow"), "standalone"]
        env.update(_airflow_env(settings))
    else:
        command = [str(_venv_bin() / "burnout"), "serve"]
    return start_detached(name, command, env, _run_dir(settings), cwd=settings.home)


def _mlflow_command(settings: Settings) -> list[str]:
    store = settings.mlflow_tracking_uri
    if store.startswith(("http://", "https://")):
        raise InputError(
            f"BURNOUT_MLFLOW_TRACKING_URI={store} is a remote server; `local up` serves the local "
            "store, so leave it unset (or point it at a sqlite:/// or postgresql:// store)"
        )
    artifacts = settings.mlflow_artifact_root or (settings.home / "mlartifacts").as_uri()
    return [
        str(_venv_bin() / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.mlflow_port),
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        artifacts,
        "--workers",
        "1",
    ]


def _airflow_env(settings: Settings) -> dict[str, str]:
    """Airflow standalone's configuration: everything under `<home>/airflow`, nothing read from ~/airflow."""
    if not DAGS_FOLDER.is_dir():
        raise InputError(
            f"DAGs folder {DAGS_FOLDER} not found; run `local up` from a checkout of the repository"
        )
    home = settings.home / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    port = settings.airflow_port
    return {
        **airflow_environment(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", AIRFLOW_PARALLELISM),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # One secret shared by the scheduler and the API server, kept across restarts of the stack.
        "AIRFLOW__API_AUTH__JWT_SECRET": _persistent_secret(home / "jwt_secret"),
    }


def _service_env(settings: Settings) -> dict[str, str]:
    """The caller's environment plus these settings as BURNOUT_* variables; MLflow via its server."""
    env = dict(os.environ)
    env["PATH"] = f"{_venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    # Relative paths (data_dir) mean the caller's folder, not the services' working folder: resolved here.
    for name, value in settings.to_environment().items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["BURNOUT_MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{settings.mlflow_port}"
    env["BURNOUT_API_URL"] = f"http://127.0.0.1:{settings.api_port}"
    env[MARKER] = str(settings.home)
    return env


def _describe(name: str, managed: Managed, settings: Settings, newly_started: bool) -> dict:
    info = {
        "url": f"http://localhost:{_port(name, settings)}",
        "pid": managed.pid,
        "log": str(managed.log),
        "started": newly_started,
    }
    if name == "airflow":
        info["user"] = "admin"
        info["password_file"] = str(
            settings.home / "airflow" / "simple_auth_manager_passwords.json.generated"
        )
    elif name == "api":
        info.update(
            docs=f"{info['url']}/docs",
            graphql=f"{info['url']}/graphql",
            grpc=f"localhost:{settings.grpc_port}",
        )
    return info


def _health_url(name: str, settings: Settings) -> str:
    path = {"mlflow": "/health", "airflow": "/api/v2/monitor/health", "api": "/health"}[name]
    return f"http://127.0.0.1:{_port(name, settings)}{path}"


def _port(name: str, settings: Settings) -> int:
    return {"mlflow": settings.mlflow_port, "airflow": settings.airflow_port, "api": settings.api_port}[name]


def _persistent_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _run_dir(settings: Settings) -> Path:
    return settings.home / "run"


def _venv_bin() -> Path:
    # The interpreter's own bin folder: MLflow and Airflow start sub-commands by name from PATH.
    return Path(sys.executable).parent
