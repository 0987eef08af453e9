"""The HTTP server as `burnout serve` runs it (uvicorn with burnout_api.http_server's protocol), in-process
on a free port with short timeouts: headers or bodies that do not arrive in time get 408 and a closed
connection while good requests are answered; the drain answers requests already begun, refuses new
connections and cuts what is still arriving at the end of the grace; the last-resort exit fires on time."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from burnout_api.core import InferenceCore
from burnout_api.http_server import ExitDeadline, build_http_server
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_dev.processes import free_port

HEADER_TIMEOUT_S = 0.5
BODY_TIMEOUT_S = 0.5
GRACE_S = 1.0


@pytest.fixture
def settings(make_settings):
    return make_settings(
        api_host="127.0.0.1",
        api_port=free_port(),
        header_timeout_s=HEADER_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
        shutdown_grace_s=GRACE_S,
    )


@pytest.fixture
def core(settings, make_store, lightgbm_pipeline):
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    core.refresh()
    return core


@contextmanager
def running(settings, core, on_close=None) -> Iterator:
    """The server in a thread; `server.should_exit = True` starts its drain, as SIGTERM does."""
    app = create_app(settings, core)
    server = build_http_server(app, settings, on_drain=core.begin_drain, on_close=on_close)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    server.thread = thread
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def server(settings, core):
    with running(settings, core) as server:
        yield server


def connect(settings) -> socket.socket:
    sock = socket.create_connection((settings.api_host, settings.api_port), timeout=5)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One answer with a Content-Length, the connection left open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length"))[15:]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def predict(settings) -> int:
    url = f"http://{settings.api_host}:{settings.api_port}/predict"
    return httpx.post(url, json=[EXAMPLE_RECORD], timeout=5).status_code


def test_unfinished_headers_get_408_and_a_closed_connection(settings, server):
    sock = connect(settings)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()

    status, body = status_and_body(read_until_closed(sock))

    assert status == 408 and "BURNOUT_HEADER_TIMEOUT_S" in body["message"]
    assert HEADER_TIMEOUT_S * 0.8 < time.monotonic() - started < HEADER_TIMEOUT_S + 1


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(settings, server):
    sock = connect(settings)
    started = time.monotonic()

    assert read_until_closed(sock) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 1


def test_dribbled_headers_are_cut_at_the_deadline_however_active(settings, server):
    sock = connect(settings)
    started = time.monotonic()
    with pytest.raises(OSError):  # reset or broken pipe once the server has closed
        for _ in range(40):
            sock.sendall(b"X-Slow: y\r\n" if time.monotonic() - started > 0.05 else b"GET / HTTP/1.1\r\n")
            time.sleep(0.05)
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 1


@pytest.mark.parametrize("path", ["/predict", "/graphql"])
def test_a_stalled_body_gets_408_and_the_route_ends_without_a_traceback(settings, server, caplog, path):
    sock = connect(settings)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode())
    sock.sendall(b"Content-Length: 1000\r\n\r\n[{")
    with caplog.at_level(logging.INFO):
        status, body = status_and_body(read_until_closed(sock))
        time.sleep(0.2)  # the route sees the disconnect and ends

    assert status == 408 and "BURNOUT_BODY_TIMEOUT_S" in body["message"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_good_requests_are_answered_while_slow_clients_hang(settings, server):
    stalled = [connect(settings) for _ in range(3)]
    stalled[0].sendall(b"GET /ready HTTP/1.1\r\n")
    stalled[1].sendall(b"POST /predict HTTP/1.1\r\nContent-Length: 500\r\n\r\n[")

    assert [predict(settings) for _ in range(5)] == [200] * 5
    assert all(read_until_closed(sock) is not None for sock in stalled)


def test_an_idle_kept_alive_connection_is_not_cut_by_the_header_timeout(settings, server):
    sock = connect(settings)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(sock).startswith(b"HTTP/1.1 200")
    time.sleep(HEADER_TIMEOUT_S * 2)  # idle is the keep-alive timeout's business (5 s)

    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")

    assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_a_busy_kept_alive_connection_still_times_each_request_from_its_first_byte(settings, server):
    sock = connect(settings)
    busy_until = time.monotonic() + HEADER_TIMEOUT_S * 2
    while time.monotonic() < busy_until:  # the connection's timer fires and re-arms meanwhile
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")

    sock.sendall(b"GET /health HTTP/1.1\r\n")
    started = time.monotonic()
    raw = read_until_closed(sock)

    assert raw.startswith(b"HTTP/1.1 408")
    assert HEADER_TIMEOUT_S * 0.8 < time.monotonic() - started < HEADER_TIMEOUT_S + 0.5


def test_a_body_timeout_shorter_than_the_header_timeout_fires_on_time(settings, core):
    settings = settings.model_copy(update={"header_timeout_s": 30.0})
    with running(settings, core):
        sock = connect(settings)
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n["
        )
        started = time.monotonic()

        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < BODY_TIMEOUT_S + 0.5


def test_the_drain_answers_begun_requests_and_refuses_new_connections(settings, core):
    with running(settings, core) as server:
        begun, idle = connect(settings), connect(settings)
        begun.sendall(b"GET /ready HTTP/1.1\r\n")
        time.sleep(0.1)
        server.should_exit = True
        time.sleep(0.3)  # uvicorn checks should_exit every 0.1 s

        with pytest.raises(ConnectionRefusedError):
            connect(settings)
        assert read_until_closed(idle) == b""  # nothing begun on it: closed at once
        begun.sendall(b"Host: x\r\n\r\n")
        raw = read_until_closed(begun)
        status, body = status_and_body(raw)
        assert status == 503 and body["state"] == "draining" and b"connection: close" in raw.lower()
        server.thread.join(GRACE_S + 2)
        assert not server.thread.is_alive()


def test_the_drain_cuts_a_stalled_body_at_the_end_of_the_grace(settings, core, caplog):
    settings = settings.model_copy(update={"body_timeout_s": 60.0})
    with running(settings, core) as server, caplog.at_level(logging.INFO):
        sock = connect(settings)
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n["
        )
        time.sleep(0.1)
        started = time.monotonic()
        server.should_exit = True

        status, body = status_and_body(read_until_closed(sock))
        cut_after = time.monotonic() - started
        server.thread.join(5)
        stopped_after = time.monotonic() - started

    assert status == 503 and "shutting down" in body["message"]
    assert GRACE_S * 0.8 < cut_after < GRACE_S + 0.5 and stopped_after < GRACE_S + 1
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_the_exit_deadline_ends_the_process_once_armed_and_only_then():
    exits = []
    deadline = ExitDeadline(0.2, exit_process=exits.append)
    time.sleep(0.3)
    assert exits == []

    deadline.arm()
    time.sleep(0.4)

    assert exits == [0]


def test_the_drain_delay_serves_everything_but_readiness_then_closes(settings, core):
    delay = 1.0
    settings = settings.model_copy(update={"drain_delay_s": delay})
    closed_at = []
    with running(settings, core, on_close=lambda: closed_at.append(time.monotonic())) as server:
        url = f"http://{settings.api_host}:{settings.api_port}"
        kept_alive = httpx.Client(base_url=url, timeout=5)
        assert kept_alive.get("/ready").status_code == 200
        started = time.monotonic()
        server.should_exit = True
        while kept_alive.get("/ready").status_code == 200:  # within uvicorn's 0.1 s tick
            assert time.monotonic() - started < 1.0

        # A balancer now sees the failed check; calls it still sends, old or new connections, are answered.
        during = []
        while time.monotonic() - started < delay - 0.3:
            during.append((kept_alive.post("/predict", json=[EXAMPLE_RECORD]).status_code, predict(settings)))
        assert during and set(during) == {(200, 200)} and not closed_at
        ready = httpx.get(f"{url}/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["state"] == "draining"

        server.thread.join(delay + GRACE_S + 2)
        assert not server.thread.is_alive()
        kept_alive.close()
    assert len(closed_at) == 1 and delay - 0.2 < closed_at[0] - started < delay + 0.5
    with pytest.raises(ConnectionRefusedError):
        connect(settings)


def test_every_answer_names_the_replica_unless_switched_off(settings, core):
    named = settings.model_copy(update={"replica_name": "api-7f3c"})
    with running(named, core):
        url = f"http://{named.api_host}:{named.api_port}"
        answers = [
            httpx.post(f"{url}/predict", json=[EXAMPLE_RECORD]),
            httpx.post(f"{url}/predict", json=[{"Gender": "?"}]),
            httpx.get(f"{url}/no-such-route"),
            httpx.get(f"{url}/metrics"),
        ]
        assert [a.status_code for a in answers] == [200, 422, 404, 200]
        assert [a.headers.get("x-burnout-replica") for a in answers] == ["api-7f3c"] * 4
        sock = connect(named)  # an answer written by the protocol itself, not the app
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        head = read_until_closed(sock).partition(b"\r\n\r\n")[0]
        assert head.startswith(b"HTTP/1.1 408") and b"\r\nx-burnout-replica: api-7f3c\r\n" in head

    anonymous = settings.model_copy(update={"replica_header": False, "api_port": free_port()})
    with running(anonymous, core):
        answer = httpx.get(f"http://{anonymous.api_host}:{anonymous.api_port}/health")
        assert answer.status_code == 200 and "x-burnout-replica" not in answer.headers
