"""`burnout local up` / `local down`: Airflow standalone, the MLflow server and the API as local processes,
each answering on its port, and nothing left running after `down`."""

from __future__ import annotations

import importlib.util
import json
import socket
import time
from pathlib import Path

import httpx
import mlflow
import psutil
import pytest

from burnout_dev import local_stack
from burnout_dev.processes import free_port
from etl.errors import InputError


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@pytest.fixture
def stack_settings(make_settings, monkeypatch):
    """Settings on free ports: the test never collides with a stack already running on 8080/5001/8800."""
    airflow, mlflow_port, api, grpc, worker_logs, trigger_logs = free_ports(6)
    # Airflow's own log servers would otherwise take 8793/8794; the services inherit this environment.
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(worker_logs))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(trigger_logs))
    return make_settings(
        airflow_port=airflow, mlflow_port=mlflow_port, api_port=api, grpc_port=grpc, api_host="127.0.0.1"
    )


def api_available() -> bool:
    return importlib.util.find_spec("burnout_api.main") is not None


def airflow_dag_ids(settings, password_file: str, timeout: float = 180) -> set[str]:
    """DAG ids Airflow has parsed, read through its REST API as the admin whose password standalone wrote."""
    base = f"http://127.0.0.1:{settings.airflow_port}"
    password = json.loads(Path(password_file).read_text())["admin"]
    token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    deadline = time.monotonic() + timeout
    while True:  # the DAG processor parses the folder shortly after start-up
        dags = httpx.get(f"{base}/api/v2/dags", headers=headers, timeout=30).json()["dags"]
        if dags or time.monotonic() > deadline:
            return {dag["dag_id"] for dag in dags}
        time.sleep(3)


def stack_processes(settings) -> list[psutil.Process]:
    return local_stack.find_marked(local_stack.MARKER, str(settings.home))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_up_serves_the_three_uis_and_down_leaves_nothing(stack_settings):
    settings = stack_settings
    services = local_stack.SERVICES if api_available() else ("mlflow", "airflow")
    try:
        report = local_stack.up(settings, services=services)

        airflow = httpx.get(f"http://127.0.0.1:{settings.airflow_port}/api/v2/monitor/health", timeout=10)
        assert airflow.status_code == 200
        assert airflow.json()["metadatabase"]["status"] == "healthy"
        assert httpx.get(f"http://127.0.0.1:{settings.mlflow_port}/health", timeout=10).text == "OK"
        if "api" in services:
            assert httpx.get(f"http://127.0.0.1:{settings.api_port}/health", timeout=10).status_code == 200
            assert report["api"]["grpc"] == f"localhost:{settings.grpc_port}"
        assert (settings.home / "airflow" / "airflow.db").exists()
        assert "burnout_pipeline" in airflow_dag_ids(settings, report["airflow"]["password_file"])

        # The MLflow server is backed by the embedded store: what it writes, the embedded mode reads.
        mlflow.set_tracking_uri(f"http://127.0.0.1:{settings.mlflow_port}")
        experiment_id = mlflow.MlflowClient().create_experiment("local-stack-check")
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        assert mlflow.MlflowClient().get_experiment(experiment_id).name == "local-stack-check"

        # A second `up` finds the running services instead of starting them twice.
        again = local_stack.up(settings, services=services)
        assert {name: again[name]["pid"] for name in services} == {
            name: report[name]["pid"] for name in services
        }
        assert not any(again[name]["started"] for name in services)
        assert len(stack_processes(settings)) >= len(services)
    finally:
        result = local_stack.down(settings)

    assert set(result["stopped"]) == set(services)
    assert stack_processes(settings) == []
    assert not [pid for pid in result["stopped"].values() if psutil.pid_exists(pid)]
    assert not list((settings.home / "run").glob("*.pid"))
    for port in (settings.airflow_port, settings.mlflow_port, settings.api_port):
        assert not local_stack.port_in_use(port)


@pytest.mark.parametrize(("port_field", "label"), [("mlflow_port", "mlflow"), ("grpc_port", "gRPC")])
def test_up_refuses_busy_port_and_starts_nothing(stack_settings, port_field, label):
    port = getattr(stack_settings, port_field)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        with pytest.raises(InputError, match=f"port {port} for {label} is already in use"):
            local_stack.up(stack_settings)
    assert stack_processes(stack_settings) == []
    assert not list((stack_settings.home / "run").glob("*.pid"))


def test_up_refuses_remote_tracking_server(make_settings):
    settings = make_settings(mlflow_tracking_uri="http://mlflow.example:5000", mlflow_port=free_ports(1)[0])
    with pytest.raises(InputError, match="remote server"):
        local_stack.up(settings, services=("mlflow",))


def test_down_without_stack_stops_nothing(settings):
    assert local_stack.down(settings)["stopped"] == {}
