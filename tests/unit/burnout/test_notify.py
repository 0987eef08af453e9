"""The reload call to the serving API, against a real HTTP server on a free port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from burnout.notify import ReloadRejected, notify_reload
from burnout.processes import free_port


class _Recorder(BaseHTTPRequestHandler):
    status = 200
    seen: list[tuple[str, str | None]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        type(self).seen.append((self.path, self.headers.get("Authorization")))
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
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 200})
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

    with caplog.at_level("INFO", logger="burnout.notify"):
        result = notify_reload(settings, timeout_s=2)

    assert result["status"] == "skipped"
    assert "not reachable" in caplog.text and "skipping reload" in caplog.text


def test_notify_reload_raises_when_api_refuses(api, make_settings):
    api.status = 401

    with pytest.raises(ReloadRejected, match="answered 401"):
        notify_reload(make_settings(api_url=api.url, reload_token="wrong"))
