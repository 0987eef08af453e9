"""`burnout serve` with BURNOUT_API_WORKERS=2, as users run it (a subprocess, the embedded registry): both
workers answer on the shared ports, /metrics adds them up whichever answers, a refresh asked of one reaches
the other, SIGTERM drains them all, and a worker dying stops the service (exit 1) rather than leave it
half."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import psutil
import pytest

from burnout_dev.processes import free_port

TOKEN = "workers-test-token"
CONNECTIONS = 30  # fresh connections: the kernel hashes each to a worker, all to one has odds of 2 ** -29


class Service:
    def __init__(self, home: Path):
        self.port = free_port()
        env = {
            "BURNOUT_HOME": str(home),
            "BURNOUT_API_HOST": "127.0.0.1",
            "BURNOUT_API_PORT": str(self.port),
            "BURNOUT_GRPC_PORT": str(free_port()),
            "BURNOUT_API_WORKERS": "2",
            "BURNOUT_RELOAD_TOKEN": TOKEN,
            "BURNOUT_REDIS_URL": "",
            "BURNOUT_ALIAS_POLL_S": "3600",  # every refresh after the first comes from /reload
            "BURNOUT_SHUTDOWN_GRACE_S": "2",
            "BURNOUT_DRAIN_DELAY_S": "0",
        }
        self.log = home / "serve.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "burnout"), "serve"],
                env={**os.environ, **env},
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_for_both_workers()

    def workers(self) -> list[psutil.Process]:
        """The worker processes (multiprocessing also starts its resource tracker)."""
        children = psutil.Process(self.process.pid).children()
        return [c for c in children if "spawn_main" in " ".join(c.cmdline())]

    def each_connection(self, method: str, path: str, **kwargs) -> list[httpx.Response]:
        """`CONNECTIONS` requests, each on a new connection (so the kernel picks a worker for each)."""
        return [httpx.request(method, self.url + path, timeout=10, **kwargs) for _ in range(CONNECTIONS)]

    def checked_at(self) -> set[str]:
        """The time of each answering worker's last registry read (its /ready), one per worker."""
        return {r.json()["checked_at"] for r in self.each_connection("GET", "/ready")}

    def _wait_for_both_workers(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                if len(self.checked_at() - {None}) == 2:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"two workers did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            for worker in self.workers():
                worker.kill()
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the tests that end with SIGTERM (a worker takes seconds to start on two busy cores)."""
    started = Service(tmp_path_factory.mktemp("workers"))
    yield started
    started.stop()


@pytest.fixture
def other_service(tmp_path):
    started = Service(tmp_path)
    yield started
    started.stop()


def test_workers_share_the_ports_and_add_up_their_metrics_and_refreshes(service):
    assert len(service.workers()) == 2
    refused = service.each_connection("POST", "/predict", json=[{"Designation": 99}])
    assert {r.status_code for r in refused} == {422}
    for answer in service.each_connection("GET", "/metrics"):  # whichever worker answers: the sum of both
        assert f'kind="invalid_input",protocol="rest"}} {CONNECTIONS}.0' in answer.text

    asked = datetime.now().astimezone()
    answer = httpx.post(f"{service.url}/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert answer.status_code in (200, 503)  # 503: no champion yet, the registry was read all the same
    deadline = time.monotonic() + 30
    while (times := service.checked_at()) and min(datetime.fromisoformat(t) for t in times) < asked:
        assert time.monotonic() < deadline, f"a worker did not refresh: {times}"
        time.sleep(0.2)


def test_sigterm_drains_every_worker(service):  # last of the tests on `service`
    workers = service.workers()
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=20) == 0  # within grace + 5 s + the parent's margin
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{service.url}/health", timeout=5)


def test_a_worker_that_dies_stops_the_service(other_service):
    first, second = other_service.workers()
    first.kill()
    assert other_service.process.wait(timeout=30) == 1
    assert "exited by itself" in other_service.log.read_text()
    second.wait(timeout=5)
