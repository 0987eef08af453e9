"""Start and stop the two servers under test as subprocesses: our service (`burnout serve`) and MLflow's
scoring server (`mlflow models serve --env-manager local --workers 1`), both on the same registered model
version."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from burnout_base.settings import Settings
from burnout_dev.processes import stop_process_tree, wait_until_answers

log = logging.getLogger(__name__)
VENV_BIN = Path(sys.executable).parent
ERRORS_METRIC = "burnout_predict_errors_total"


@dataclass
class Server:
    """A server process under test: `url` is its HTTP base URL, `pid` the root of its process tree,
    `grpc_port` where it answers gRPC, if it does."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    grpc_port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


def settings_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The `BURNOUT_*` variables that rebuild `settings` (plus `overrides`) in a child process."""
    environment = settings.model_copy(update=overrides).to_environment()
    return {name: value for name, value in environment.items() if value is not None}


def child_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """Environment for a server: ours, MLflow's tracking/registry URI, and the venv's bin first on PATH
    (MLflow starts `uvicorn` by name)."""
    env = {**os.environ, **settings_env(settings, **overrides)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    env["MLFLOW_REGISTRY_URI"] = settings.mlflow_tracking_uri
    return env


def start_service(
    settings: Settings,
    api_port: int,
    grpc_port: int,
    log_dir: Path,
    timeout: float = 180,
    name: str = "service",
    **overrides: object,
) -> Server:
    """Start our service (REST + GraphQL + gRPC) and wait until it has loaded the champion (`/ready` 200);
    `overrides`: settings of this service only (e.g. where its prediction log goes)."""
    # The service does not start without a reload token; the benchmark never calls /reload.
    token = secrets.token_urlsafe(16)
    env = child_env(
        settings,
        api_host="127.0.0.1",
        api_port=api_port,
        grpc_port=grpc_port,
        reload_token=token,
        **overrides,
    )
    command = [sys.executable, "-m", "burnout_cli", "serve"]
    url = f"http://127.0.0.1:{api_port}"
    return start_server(name, command, env, url, "/ready", log_dir, timeout, grpc_port)


def start_mlflow_server(
    settings: Settings, version: int, port: int, log_dir: Path, timeout: float = 180
) -> Server:
    """Start MLflow's scoring server on `models:/<name>/<version>` with one worker, in this environment."""
    model_uri = f"models:/{settings.registered_model_name}/{version}"
    command = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--workers",
        "1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    return start_server(
        "mlflow", command, child_env(settings), f"http://127.0.0.1:{port}", "/ping", log_dir, timeout
    )


def stop_server(server: Server) -> None:
    """Terminate the server's whole process tree (MLflow's CLI runs uvicorn as a child)."""
    stop_process_tree(server.pid)
    server.process.wait()


def start_server(
    name: str,
    command: list[str],
    env: dict[str, str],
    url: str,
    ready_path: str,
    log_dir: Path,
    timeout: float,
    grpc_port: int | None = None,
) -> Server:
    """Start `command` with `env`, logging to `<log_dir>/<name>.log`; return once `url + ready_path` answers
    below 500, and stop it if it never does."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    # cwd = the log folder, so no stray `.env` in the caller's directory changes the child's settings.
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, env=env, cwd=log_dir, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(name, process, url, log_path, grpc_port)
    log.info("started %s (pid %d) at %s", name, process.pid, url)
    try:
        wait_until_answers(url + ready_path, name, lambda: process.poll() is None, log_path, timeout)
    except Exception:
        stop_server(server)
        raise
    return server


def count_service_errors(server: Server) -> float:
    """The prediction requests our service has refused or failed so far, all protocols (its /metrics): a
    gRPC error still answers HTTP 200, so the load generator alone would not see it."""
    return service_metric_totals(server, ERRORS_METRIC)[ERRORS_METRIC]


def service_metric_totals(server: Server, *names: str) -> dict[str, float]:
    """Each of the metrics `names` in our service's /metrics, summed over its labels (0 when absent)."""
    totals = dict.fromkeys(names, 0.0)
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals
