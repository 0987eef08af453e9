"""MLServer (Seldon's and KServe's runtime) serving the champion beside our service: its own pinned
virtualenv, the pipeline exported as its scikit-learn runtime expects, and `mlserver start` as a subprocess.

MLServer runs as a user would configure it: the sklearn runtime (`mlserver_sklearn.SKLearnModel`) on a
joblib file, and MLServer's defaults otherwise: adaptive batching off, REST and gRPC both on. Only the ports,
the host (its defaults 8080/8081/8082 would collide with other servers on this machine) and the number of
parallel inference worker processes beside the server process are set: as many as our service has workers
(issue 25), so both spread the model's work over the same number of processes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.servers import Server, start_server
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)
PINS = Path(__file__).with_name("mlserver-requirements.txt")
IMPLEMENTATION = "mlserver_sklearn.SKLearnModel"
INSTALLED_PINS = "installed-pins.txt"  # written last: a venv without it is a half-done install
INSTALL_TIMEOUT_S = 900
# pip's messages when the package index cannot be reached (a test skips on these, and only on these; a wrong
# pin also ends in "No matching distribution", but without these).
OFFLINE_HINTS = (
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)


class MLServerInstallError(RuntimeError):
    """pip could not install MLServer's pins; `offline` when the package index was unreachable."""

    def __init__(self, message: str, offline: bool):
        super().__init__(message)
        self.offline = offline


def ensure_mlserver_venv(venv: Path, pins: Path = PINS) -> Path:
    """A virtualenv at `venv` with exactly `pins` installed, created with this interpreter's Python; reused
    while its recorded pins equal the file's (an install takes about 70 s). Returns its `mlserver` script."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    wanted = pins.read_text()
    # One installer at a time per venv: a bench and a test may both find it missing.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = venv / INSTALLED_PINS
        if not (marker.exists() and marker.read_text() == wanted):
            _install(venv, pins)
            marker.write_text(wanted)
    return venv / "bin" / "mlserver"


def _install(venv: Path, pins: Path) -> None:
    log.info("installing MLServer into %s (about a minute)", venv)
    shutil.rmtree(venv, ignore_errors=True)
    # sys.executable may be our own venv's python: venv builds the new one on the same base interpreter.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", "-r", str(pins)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        offline = any(hint in output for hint in OFFLINE_HINTS)
        raise MLServerInstallError(f"pip could not install {pins}:\n{output}", offline)


def write_model_repository(
    folder: Path,
    model,
    name: str,
    version: int,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    parallel_workers: int = 1,
) -> Path:
    """MLServer's model repository for one model: `settings.json` (server, with `parallel_workers`
    inference processes) at the root and `<name>/model-settings.json` beside `<name>/model.joblib`, the
    pipeline as loaded from the registry."""
    import joblib

    shutil.rmtree(folder, ignore_errors=True)
    model_folder = folder / name
    model_folder.mkdir(parents=True)
    joblib.dump(model, model_folder / "model.joblib")
    server = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": parallel_workers,
    }
    model_settings = {
        "name": name,
        "implementation": IMPLEMENTATION,
        "parameters": {"uri": "./model.joblib", "version": str(version)},
    }
    (folder / "settings.json").write_text(json.dumps(server, indent=2))
    (model_folder / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    return folder


def default_venv(settings: Settings) -> Path:
    """Where `make bench` keeps MLServer's virtualenv: BURNOUT_HOME/bench/mlserver/venv."""
    return settings.home / "bench" / "mlserver" / "venv"


def start_champion_mlserver(
    settings: Settings,
    model,
    version: int,
    workdir: Path,
    venv: Path | None = None,
    parallel_workers: int = 1,
) -> Server:
    """MLServer serving `model` (registry `version`) under the registered model's name on free ports, from
    the venv at `venv` (default: `default_venv`; installed on first use), with `parallel_workers`
    inference processes (the bench gives it as many as our service has workers)."""
    mlserver = ensure_mlserver_venv(venv or default_venv(settings))
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    name = settings.registered_model_name
    repository = write_model_repository(
        workdir / "mlserver-models",
        model,
        name,
        version,
        http_port,
        grpc_port,
        metrics_port,
        parallel_workers,
    )
    return start_mlserver(mlserver, repository, name, http_port, grpc_port, workdir / "logs")


def start_mlserver(
    mlserver: Path,
    repository: Path,
    name: str,
    http_port: int,
    grpc_port: int,
    log_dir: Path,
    timeout: float = 180,
) -> Server:
    """`mlserver start <repository>` from its venv; returns once `/v2/models/<name>/ready` answers 200."""
    # The ensemble's voting class lives in our `modeling` package (it imports sklearn and numpy only): on
    # MLServer's path so the pickled pipeline loads. The repository's own settings.json decides the rest.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER") and k != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = str(_modeling_parent())
    url = f"http://127.0.0.1:{http_port}"
    ready = f"/v2/models/{name}/ready"
    command = [str(mlserver), "start", str(repository)]
    server = start_server("mlserver", command, env, url, ready, log_dir, timeout, grpc_port)
    _wait_for_ok(server, url + ready, timeout)
    return server


def _modeling_parent() -> Path:
    import modeling.weighted_vote

    return Path(modeling.weighted_vote.__file__).resolve().parents[1]


def _wait_for_ok(server: Server, url: str, timeout: float) -> None:
    """MLServer may answer its ready route before the model has loaded (4xx): wait for the 200."""
    from benchmarks.servers import stop_server

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"MLServer's model never became ready at {url}; see {server.log_path}")
