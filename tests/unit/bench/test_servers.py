"""Child processes rebuild exactly our settings from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.servers import child_env, settings_env

CHILD = """
import json
from burnout_base.settings import Settings
s = Settings(_env_file=None)
values = s.model_dump(mode="json", exclude={"reload_token"})
print(json.dumps({**values, "token": s.reload_token.get_secret_value()}))
"""


def test_settings_env_round_trips_in_a_child_process(make_settings, tmp_path):
    settings = make_settings(reload_token="s3cret", tuning_timeout_s=12.5)
    env = {**os.environ, **settings_env(settings, api_port=9123)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    child = json.loads(out)
    assert child.pop("api_port") == 9123
    assert child.pop("token") == "s3cret"  # secrets travel unmasked
    # The child runs elsewhere: the relative data folder travels resolved against the parent's folder.
    assert child.pop("data_dir") == str(settings.data_dir.resolve())
    assert child == settings.model_dump(mode="json", exclude={"api_port", "reload_token", "data_dir"})


def test_child_env_points_mlflow_at_our_store_and_venv_first(settings):
    env = child_env(settings)
    assert env["MLFLOW_TRACKING_URI"] == env["MLFLOW_REGISTRY_URI"] == settings.mlflow_tracking_uri
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_count_service_errors_sums_every_protocol_and_kind(tmp_path):
    import subprocess as sp
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from pathlib import Path

    from benchmarks.servers import Server, count_service_errors

    metrics = (
        b"# HELP burnout_predict_errors_total Prediction requests refused or failed.\n"
        b'burnout_predict_errors_total{alias="champion",kind="invalid",protocol="grpc"} 3.0\n'
        b'burnout_predict_errors_total{alias="champion",kind="unavailable",protocol="rest"} 2.0\n'
        b'burnout_predict_requests_total{alias="champion",protocol="rest",version="1"} 40.0\n'
    )

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(metrics)

        def log_message(self, *args):
            pass

    http = HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{http.server_port}"
        server = Server("service", sp.Popen(["true"]), url, Path(tmp_path / "log"))
        assert count_service_errors(server) == 5.0
        server.process.wait()
    finally:
        http.shutdown()
