"""The balancer-cost rows (issue 22): the bench runs the stack's own HAProxy configuration with local
addresses, and the target reads the ratio of the two rows."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from benchmarks.balancer_cost import find_haproxy, local_balancer_config, start_balancer
from benchmarks.cases import OURS, REST_SINGLE_C8_BALANCED, REST_SINGLE_C8_DIRECT, evaluate_targets
from burnout_dev.processes import free_port

needs_haproxy = pytest.mark.skipif(find_haproxy() is None, reason="haproxy not installed (make system-deps)")


class Replica(BaseHTTPRequestHandler):
    """A stand-in replica: ready, and naming itself on every answer."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("X-Served-By", "replica")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@needs_haproxy
def test_local_config_is_the_stack_config_with_local_addresses(tmp_path):
    ports = {"http": 18800, "grpc": 15051, "healthz": 18404}
    config = local_balancer_config(ports, 28800, 25051)
    assert "\nresolvers " not in config and "    server-template " not in config
    assert "server api1 127.0.0.1:28800 check" in config
    assert "server grpc1 127.0.0.1:25051 proto h2 check" in config
    assert "http-check connect port 28800 proto h1" in config
    assert "retry-on conn-failure empty-response" in config  # the stack's behaviour is kept
    (tmp_path / "haproxy.cfg").write_text(config)
    checked = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


@needs_haproxy
def test_the_balancer_forwards_to_the_replica(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {"http": free_port(), "grpc": free_port(), "healthz": free_port()}
    url = f"http://127.0.0.1:{ports['http']}"
    balancer = start_balancer(
        local_balancer_config(ports, server.server_port, free_port()), tmp_path, url + "/ready"
    )
    try:
        assert httpx.get(url + "/predict").headers["X-Served-By"] == "replica"
    finally:
        balancer.terminate()
        balancer.wait(timeout=10)
        server.shutdown()


def test_the_target_is_the_balanced_over_the_direct_throughput():
    def row(setting: str, rps: float) -> dict:
        return {"setting": setting, "server": OURS, "rps": rps, "errors": 0, "cpu_percent": 50.0}

    rows = [row(REST_SINGLE_C8_BALANCED, 2_500.0), row(REST_SINGLE_C8_DIRECT, 2_800.0)]
    target = next(t for t in evaluate_targets(rows, None) if t["target"].startswith("load balancer"))
    assert target["measured"] == pytest.approx(2_500 / 2_800) and target["met"] is True
    rows[0]["rps"] = 2_000.0
    assert (
        next(t for t in evaluate_targets(rows, None) if t["target"].startswith("load balancer"))["met"]
        is False
    )
