"""`burnout serve` under clients that stall, as users run it (a subprocess over a real MLflow registry):
SIGTERM drains it on time whatever the clients do (readiness and gRPC health first, new calls refused, the
process gone with exit code 0 within the grace), behind a balancer it keeps serving through the drain delay
while not ready, and slow clients lose their connection at the header or body timeout while good requests go
on being answered."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_support import isolated, register_synthetic_model, wait_for

from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_base.settings import Settings
from burnout_dev.processes import free_port
from etl.lake import lake_from_settings
from monitoring.prediction_log import read_predictions

pytestmark = pytest.mark.slow
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PASSED = (
    "home",
    "mlflow_tracking_uri",
    "registered_model_name",
    "api_host",
    "api_port",
    "grpc_port",
    "shutdown_grace_s",
    "drain_delay_s",
    "replica_name",
    "header_timeout_s",
    "body_timeout_s",
)


class Service:
    """A `burnout serve` subprocess serving a registered champion."""

    def __init__(self, settings: Settings, process: subprocess.Popen, log: Path):
        self.settings, self.process, self.log = settings, process, log
        self.url = f"http://127.0.0.1:{settings.api_port}"
        self.grpc_target = f"127.0.0.1:{settings.grpc_port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.settings.api_port), timeout=30)

    def predict_rest(self) -> int:
        return httpx.post(f"{self.url}/predict", json=[EXAMPLE_RECORD], timeout=10).status_code

    def predict_grpc(self, channel: grpc.Channel) -> str:
        fields = {f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS if f.name in EXAMPLE_RECORD}
        employee = pb.Employee(**fields)
        answer = pb_grpc.BurnoutRiskStub(channel).Predict(pb.PredictRequest(records=[employee]), timeout=10)
        return answer.predictions[0].class_name


@pytest.fixture
def start_service(mlflow_server, tmp_path):
    """start_service(**settings) -> a ready Service; killed at teardown if a test left it running."""
    started = []

    def start(**overrides) -> Service:
        home = tmp_path / "serve-home"
        home.mkdir()
        base = Settings(
            _env_file=None, home=home, mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None
        )
        ports = {"api_port": free_port(), "grpc_port": free_port()}
        settings = isolated(base, api_host="127.0.0.1", **ports, **overrides)
        register_synthetic_model(settings, aliases=("champion",))
        env = {f"BURNOUT_{k.upper()}": str(v) for k, v in settings.model_dump().items() if k in PASSED}
        # One process: its drain is what these tests time (several workers: tests/unit/api/test_workers.py).
        env |= {"BURNOUT_RELOAD_TOKEN": "shutdown-test-token", "BURNOUT_API_WORKERS": "1"}
        log = home / "serve.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "burnout"), "serve"],
                env={**os.environ, **env},
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(settings, process, log)
        started.append(service)
        try:
            wait_for(lambda: process.poll() is None and _ready(service), timeout=180)
        except TimeoutError:
            raise RuntimeError(log.read_text()[-3000:]) from None
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


def _ready(service: Service) -> bool:
    try:
        return httpx.get(f"{service.url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def watch_health(channel: grpc.Channel) -> queue.Queue:
    """Statuses of grpc.health.v1 Watch(""), as they arrive."""
    statuses: queue.Queue = queue.Queue()

    def pump() -> None:
        try:
            request = health_pb2.HealthCheckRequest(service="")
            for answer in health_pb2_grpc.HealthStub(channel).Watch(request):
                statuses.put(answer.status)
        except grpc.RpcError as error:
            statuses.put(error.code())

    threading.Thread(target=pump, daemon=True).start()
    return statuses


def test_sigterm_drains_within_the_grace_whatever_stalled_clients_do(start_service):
    grace = 3.0
    # Timeouts far beyond the grace: only the drain can end these clients.
    service = start_service(shutdown_grace_s=grace, header_timeout_s=60, body_timeout_s=60)
    half_body = service.connect()
    half_body.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    half_body.sendall(b"Content-Length: 5000\r\n\r\n[{")
    half_headers = service.connect()
    half_headers.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
    begun_ready = service.connect()
    begun_ready.sendall(b"GET /ready HTTP/1.1\r\n")
    channel = grpc.insecure_channel(service.grpc_target)
    health = watch_health(channel)
    assert health.get(timeout=10) == SERVING
    assert service.predict_grpc(channel) in ("Low", "Medium", "High")

    sent = time.monotonic()
    service.process.send_signal(signal.SIGTERM)

    assert health.get(timeout=2) == NOT_SERVING
    not_serving_after = time.monotonic() - sent
    begun_ready.sendall(b"Host: x\r\n\r\n")  # begun before the signal: answered, then closed
    status, ready = status_and_body(read_until_closed(begun_ready))
    assert status == 503 and ready["state"] == "draining"
    with pytest.raises(ConnectionRefusedError):
        service.connect()
    with pytest.raises(grpc.RpcError) as refused:
        service.predict_grpc(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(service.grpc_target) as fresh, pytest.raises(grpc.RpcError) as refused:
        health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    assert service.process.wait(timeout=grace + 5) == 0
    exited_after = time.monotonic() - sent
    cut_status, cut = status_and_body(read_until_closed(half_body))
    assert cut_status == 503 and "shutting down" in cut["message"]
    assert read_until_closed(half_headers).startswith(b"HTTP/1.1 503")
    channel.close()
    log = service.log.read_text()
    assert "stopping gRPC" in log and "Traceback" not in log
    assert not_serving_after < 1.0, not_serving_after
    assert grace - 0.5 < exited_after < grace + 3, exited_after
    print(f"NOT_SERVING after {not_serving_after:.2f} s, exit 0 after {exited_after:.2f} s (grace {grace} s)")


def test_sigterm_keeps_serving_through_the_drain_delay_while_not_ready(start_service):
    delay = 3.0
    service = start_service(drain_delay_s=delay, shutdown_grace_s=3, replica_name="replica-a")
    channel = grpc.insecure_channel(service.grpc_target)
    health = watch_health(channel)
    assert health.get(timeout=10) == SERVING
    before = httpx.post(f"{service.url}/predict", json=[EXAMPLE_RECORD], timeout=10)
    assert before.status_code == 200 and before.headers["x-burnout-replica"] == "replica-a"

    sent = time.monotonic()
    service.process.send_signal(signal.SIGTERM)

    assert health.get(timeout=2) == NOT_SERVING
    while (ready := httpx.get(f"{service.url}/ready", timeout=5)).status_code == 200:
        assert time.monotonic() - sent < 1.0
    not_ready_after = time.monotonic() - sent
    assert ready.json()["state"] == "draining"
    # What a balancer still sends before its next check: answered on new connections, REST and gRPC.
    served = []
    while time.monotonic() - sent < delay - 0.7:
        served.append((service.predict_rest(), service.predict_grpc(channel)))
    assert served and all(rest == 200 and klass for rest, klass in served), served
    assert httpx.get(f"{service.url}/ready", timeout=5).status_code == 503
    channel.close()  # its health Watch is a call in flight, which would hold the drain for the grace

    assert service.process.wait(timeout=delay + 3 + 5) == 0
    exited_after = time.monotonic() - sent
    log = service.log.read_text()
    assert "still serving for 3 s" in log and "stopping gRPC" in log and "Traceback" not in log
    assert not_ready_after < 1.0 and delay - 0.3 < exited_after < delay + 2.5, exited_after
    today = time.gmtime()
    day = date(today.tm_year, today.tm_mon, today.tm_mday)
    logged = read_predictions(
        lake_from_settings(service.settings), service.settings.predictions_bucket, day, day
    )
    assert len(logged) == 1 + 2 * len(served) and set(logged["replica"]) == {"replica-a"}
    print(
        f"not ready after {not_ready_after:.2f} s, {len(served)} REST+gRPC pairs answered while draining, "
        f"exit 0 after {exited_after:.2f} s (delay {delay} s)"
    )


def test_sigterm_with_only_idle_clients_exits_at_once(start_service):
    service = start_service(shutdown_grace_s=10)
    channel = grpc.insecure_channel(service.grpc_target)
    kept_alive = httpx.Client(base_url=service.url)
    assert kept_alive.post("/predict", json=[EXAMPLE_RECORD]).status_code == 200
    assert service.predict_grpc(channel) in ("Low", "Medium", "High")

    sent = time.monotonic()
    service.process.send_signal(signal.SIGTERM)

    assert service.process.wait(timeout=15) == 0
    exited_after = time.monotonic() - sent
    kept_alive.close()
    channel.close()
    assert exited_after < 2.0, exited_after
    print(f"idle clients only: exit 0 after {exited_after:.2f} s (grace 10 s)")


def test_slow_clients_are_cut_at_their_timeout_while_good_requests_are_answered(start_service):
    header_timeout, body_timeout = 1.5, 3.0
    service = start_service(header_timeout_s=header_timeout, body_timeout_s=body_timeout)
    channel = grpc.insecure_channel(service.grpc_target)
    silent = service.connect()
    half_headers = service.connect()
    half_headers.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n")
    dribbled = service.connect()
    half_body = service.connect()
    half_body.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    half_body.sendall(b"Content-Length: 5000\r\n\r\n[{")
    opened = time.monotonic()
    closed_after: dict[str, float] = {}
    answers: dict[str, bytes] = {}

    def outcome(name: str, sock: socket.socket) -> None:
        answers[name] = read_until_closed(sock)
        closed_after[name] = time.monotonic() - opened

    def dribble() -> None:  # one header byte every 0.1 s: busy, yet the headers never end
        try:
            for byte in b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200:
                dribbled.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:  # reset or broken pipe: the server closed it
            closed_after["dribbled"] = time.monotonic() - opened

    clients = [threading.Thread(target=dribble, daemon=True)] + [
        threading.Thread(target=outcome, args=item, daemon=True)
        for item in (("silent", silent), ("half_headers", half_headers), ("half_body", half_body))
    ]
    for client in clients:
        client.start()
    served = []
    while any(client.is_alive() for client in clients) and time.monotonic() - opened < body_timeout + 5:
        served.append((service.predict_rest(), service.predict_grpc(channel)))
    channel.close()

    assert len(served) > 20 and all(rest == 200 and klass for rest, klass in served)
    assert answers["silent"] == b""
    assert status_and_body(answers["half_headers"])[0] == 408
    status, body = status_and_body(answers["half_body"])
    assert status == 408 and "BURNOUT_BODY_TIMEOUT_S" in body["message"]
    for name, timeout in (
        ("silent", header_timeout),
        ("half_headers", header_timeout),
        ("dribbled", header_timeout),
        ("half_body", body_timeout),
    ):
        assert timeout - 0.2 < closed_after[name] < timeout + 1.5, (name, closed_after)
    assert service.process.poll() is None and _ready(service)
    assert "Traceback" not in service.log.read_text()
    print("closed after", {name: round(seconds, 2) for name, seconds in closed_after.items()})
