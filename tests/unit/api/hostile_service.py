"""What the hostile-input tests (test_hostile_*.py) share: the service really serving (uvicorn on a free port,
gRPC on another) over an InferenceCore with a synthetic model, the hypothesis settings they fuzz with, and the
checks every refusal must pass: the right envelope, and nothing of the server's insides in what the client
reads."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
import uvicorn
from hypothesis import HealthCheck, settings

from burnout_api.core import InferenceCore
from burnout_api.grpc_api.server import start_grpc_server
from burnout_api.main import create_app
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_base.settings import Settings

START_TIMEOUT_S = 30.0
# Reproducible in CI (derandomize, no example database left in the work tree) and a few seconds per test;
# one service answers every example of a test, so whatever an example breaks, the next ones see it.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVER_PATH_MARKERS = ("/tmp", "/work", "/usr/", "/opt/", "site-packages", '.py"', ".py,", "Traceback")
EXCEPTION_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b")


@contextmanager
def serving_http(settings: Settings, store) -> Iterator[httpx.Client]:
    """REST and GraphQL on 127.0.0.1 as production serves them (uvicorn, uvloop, httptools), over a core whose
    champion is loaded; yields a client for that server."""
    core = InferenceCore(settings, store=store)
    core.refresh()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, core),
        loop="uvloop",
        http="httptools",
        access_log=False,
        lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()
        core.stop()


@contextmanager
def serving_grpc(settings: Settings, store) -> Iterator[grpc.Channel]:
    """The gRPC service on a free port over a core whose champion is loaded; yields a channel to it."""
    core = InferenceCore(settings, store=store)
    core.refresh()
    server, port = start_grpc_server(core, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(0)
        core.stop()


def leaks(text: str, *echoed: str) -> list[str]:
    """Server paths, tracebacks and Python exception class names in `text`, once the client's own words
    (`echoed`, which a message may quote back) are taken out."""
    for words in sorted(echoed, key=len, reverse=True):
        if words:
            text = text.replace(words, "")
    found = [marker for marker in SERVER_PATH_MARKERS if marker in text]
    return found + [match.group(0) for match in EXCEPTION_CLASS_NAME.finditer(text)]


def assert_error_envelope(answer: httpx.Response, *echoed: str) -> dict:
    """A REST refusal: JSON `{"message": str, "detail": [...]}` and nothing of the server's insides."""
    assert answer.headers.get("content-type", "").startswith("application/json"), (
        answer.status_code,
        answer.headers.get("content-type"),
        answer.text[:300],
    )
    body = answer.json()
    assert isinstance(body, dict) and set(body) == {"message", "detail"}, (answer.status_code, body)
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["detail"], list), body
    assert leaks(json.dumps(body, ensure_ascii=False), *echoed) == [], (answer.status_code, body)
    return body


def assert_still_predicts(client: httpx.Client) -> None:
    """After whatever came before, a good request is still answered with a prediction."""
    answer = client.post("/predict", json=[EXAMPLE_RECORD])
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    assert len(answer.json()["predictions"]) == 1
