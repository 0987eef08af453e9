"""The reload call to the serving API, against a real HTTP server on a free port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from burnout_dev.processes import free_port
from pipeline.reload_api import ReloadRejected, notify_reload


class _Recorder(BaseHTTPRequestHandler):
    status = 200
    seen: list[tuple[str, str | None]] = []
    hosts: list[str | None] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        type(self).hosts.append(self.headers.get("Host"))
        body = b'{"model_version": 3}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def api() -> Iterator[type[_Recorder]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "hosts": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()
    server.server_close()


def test_notify_reload_posts_with_token(api, make_settings):
    settings = make_settings(api_url=api.url + "/", reload_token="s3cret")

    result = notify_reload(settings)

    assert result["status"] == "reloaded" and result["api"] == {"model_version": 3}
    assert api.seen == [("/reload", "Bearer s3cret")]


def test_notify_reload_skips_when_api_is_down(make_settings, caplog):
    settings = make_settings(api_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there

    with caplog.at_level("INFO", logger="pipeline.reload_api"):
        result = notify_reload(settings, timeout_s=2)

    assert result["status"] == "skipped"
    assert "not reachable" in caplog.text and "skipping reload" in caplog.text


def test_notify_reload_raises_when_api_refuses(api, make_settings):
    api.status = 401

    with pytest.raises(ReloadRejected, match="answered 401"):
        notify_reload(make_settings(api_url=api.url, reload_token="wrong"))


@pytest.fixture
def replicas(monkeypatch) -> Iterator[dict[str, type[_Recorder]]]:
    """Two API replicas on one port, at 127.0.0.1 and 127.0.0.2, that the name `api.test` resolves to (as
    Docker's DNS resolves `api` to every replica), and 127.0.0.3, where nothing listens."""
    port = free_port()
    handlers, servers = {}, []
    for address in ("127.0.0.1", "127.0.0.2"):
        handler = type("Handler", (_Recorder,), {"seen": [], "hosts": [], "status": 200})
        server = HTTPServer((address, port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        handlers[address], handler.url = handler, f"http://api.test:{port}"
        servers.append(server)
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host != "api.test":
            return real_getaddrinfo(host, *args, **kwargs)
        found = [real_getaddrinfo(a, *args, **kwargs)[0] for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
        return found + found  # one entry per socket type and protocol: the same address more than once

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield handlers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_notify_reload_reaches_every_replica_and_skips_an_unreachable_one(replicas, make_settings, caplog):
    port = int(replicas["127.0.0.1"].url.rsplit(":", 1)[1])
    settings = make_settings(api_url=f"http://api.test:{port}", reload_token="s3cret")

    with caplog.at_level("INFO", logger="pipeline.reload_api"):
        result = notify_reload(settings, timeout_s=2)

    assert result["status"] == "reloaded"
    assert [(r["address"], r["status"]) for r in result["replicas"]] == [
        ("127.0.0.1", "reloaded"),
        ("127.0.0.2", "reloaded"),
        ("127.0.0.3", "skipped"),
    ]
    for handler in replicas.values():  # once each, with the token and the service's own name
        assert handler.seen == [("/reload", "Bearer s3cret")]
        assert handler.hosts == [f"api.test:{port}"]
    assert "127.0.0.3 of api.test not reachable" in caplog.text


def test_notify_reload_raises_when_one_replica_refuses(replicas, make_settings):
    replicas["127.0.0.2"].status = 503
    port = int(replicas["127.0.0.1"].url.rsplit(":", 1)[1])

    with pytest.raises(ReloadRejected, match=r"127\.0\.0\.2 answered 503"):
        notify_reload(make_settings(api_url=f"http://api.test:{port}"), timeout_s=2)
    assert replicas["127.0.0.1"].seen == [("/reload", None)]  # the others were still told


def test_notify_reload_skips_a_host_that_does_not_resolve(make_settings):
    result = notify_reload(make_settings(api_url="http://no-such-host.invalid:8800"), timeout_s=2)
    assert result["status"] == "skipped" and result["replicas"] == []
