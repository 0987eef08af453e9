"""The serving core against a real MLflow server over HTTP: a fresh stack answers 503 until the first champion
is trained and promoted by the real pipeline steps, then picks it up by itself; when MLflow goes away it keeps
serving and says so in /ready, and it recovers when MLflow comes back."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from serving_support import isolated, register_synthetic_model, wait_for

from burnout_api.core import InferenceCore
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_dev.processes import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def fast_failing_mlflow(monkeypatch):
    """What `serve` sets: MLflow's client fails fast instead of retrying for minutes."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


def test_a_fresh_stack_is_503_until_the_pipeline_registers_a_champion(
    server_settings, fast_failing_mlflow, tmp_path
):
    from etl.run_etl import run_etl
    from etl.synthetic import write_synthetic_csv
    from modeling.registry import promote_if_better
    from modeling.train import train_family

    settings = isolated(server_settings, alias_poll_s=0.3)
    with TestClient(create_app(settings)) as client:
        answer = wait_for(lambda: (r := client.get("/ready")).json()["state"] != "starting" and r)
        assert answer.status_code == 503 and answer.json()["state"] == "no_model"
        refused = client.post("/predict", json=[EXAMPLE_RECORD])
        assert refused.status_code == 503 and "burnout_pipeline" in refused.json()["message"]

        csv = tmp_path / "employees.csv"
        write_synthetic_csv(csv, rows=400, seed=3)
        run_etl(str(csv), settings)
        trained = train_family("lightgbm", settings, trials=1)
        promote_if_better(settings, "lightgbm")

        assert wait_for(lambda: client.get("/ready").status_code == 200, timeout=60)
        answer = client.post("/predict", json=[EXAMPLE_RECORD])
        assert answer.status_code == 200
        assert answer.json()["predictions"][0]["model_version"] == trained["model_version"]
        champion = client.get("/models/champion").json()
        assert champion["version"] == trained["model_version"] and champion["family"] == "lightgbm"
        assert (
            champion["run_id"] == trained["run_id"]
            and champion["dataset_version"] == trained["dataset_version"]
        )
        assert champion["test_metrics"]["macro_f1"] == pytest.approx(trained["test_metrics"]["macro_f1"])
        assert champion["fast_path"] is True


class TcpProxy:
    """Forwards a local port to MLflow; `stop()` makes MLflow unreachable, `start()` brings it back."""

    def __init__(self, target_port: int):
        self.port, self._target = free_port(), ("127.0.0.1", target_port)
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave it accepting.
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._connections:
            with suppress(OSError):
                connection.close()
        self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_an_unreachable_mlflow_keeps_the_champion_serving(server_settings, fast_failing_mlflow):
    proxy = TcpProxy(int(server_settings.mlflow_tracking_uri.rsplit(":", 1)[1]))
    proxy.start()
    settings = isolated(
        server_settings, mlflow_tracking_uri=proxy.url, alias_poll_s=0.3, reload_token=SecretStr("t0ken")
    )
    version = register_synthetic_model(settings, aliases=("champion",))
    core = InferenceCore(settings)
    with TestClient(create_app(settings, core)) as client:
        assert wait_for(lambda: client.get("/ready").status_code == 200)
        proxy.stop()
        down = wait_for(
            lambda: (r := client.get("/ready").json())["mlflow"] == "unreachable" and r, timeout=30
        )
        assert down["ready"] is True and down["champion_version"] == version and down["last_error"]
        answer = client.post("/predict", json=[EXAMPLE_RECORD])
        assert answer.status_code == 200 and answer.json()["model"]["version"] == version
        assert client.post("/reload", headers={"Authorization": "Bearer t0ken"}).status_code == 503
        proxy.start()
        assert wait_for(lambda: client.get("/ready").json()["mlflow"] == "reachable", timeout=40)
    proxy.stop()
