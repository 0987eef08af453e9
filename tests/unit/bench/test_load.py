"""wrk driving: the Lua script's summary line is parsed, and a real wrk run POSTs every body to the right
path."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from benchmarks.load import find_wrk, measurement_from_wrk, parse_wrk_output, run_wrk, write_load_files

SUMMARY = {
    "requests": 2000,
    "duration_us": 2_000_000,
    "errors_connect": 0,
    "errors_read": 1,
    "errors_write": 0,
    "errors_status": 2,
    "errors_timeout": 0,
    "p50_us": 1500,
    "p99_us": 9000,
    "mean_us": 1800.5,
}


def test_parse_wrk_output_finds_result_line():
    text = (
        "Running 2s test @ http://x\n  1 threads\nBENCH_RESULT "
        + json.dumps(SUMMARY)
        + "\nRequests/sec: 1000\n"
    )
    assert parse_wrk_output(text) == SUMMARY


def test_parse_wrk_output_without_result_raises():
    with pytest.raises(RuntimeError, match="no result line"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_measurement_from_wrk_converts_units_and_sums_errors():
    m = measurement_from_wrk("REST 1 record, c=1", "ours", SUMMARY, cpu_percent=50.0)
    assert m.rps == pytest.approx(1000.0)
    assert (m.p50_ms, m.p99_ms, m.mean_ms) == pytest.approx((1.5, 9.0, 1.8005))
    assert m.errors == 3


def test_write_load_files_rejects_multiline_body(tmp_path):
    with pytest.raises(ValueError, match="single line"):
        write_load_files(tmp_path, "bad", ['{"a":\n1}'])


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers["Content-Type"], body))
        status = 200 if body != b'{"fail": true}' else 422
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.mark.skipif(find_wrk() is None, reason="wrk not installed (make system-deps)")
def test_run_wrk_posts_each_body_and_counts_bad_statuses(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bodies = ['[{"a": 1}]', '[{"a": 2}]', '{"fail": true}']
    try:
        path = write_load_files(tmp_path, "bodies", bodies)
        summary = run_wrk(f"http://127.0.0.1:{server.server_port}/predict?model=champion", path, 1, 1)
    finally:
        server.shutdown()
    assert summary["requests"] >= 3
    assert {body.decode() for _, _, body in _Recorder.seen} == set(bodies)
    assert {(p, t) for p, t, _ in _Recorder.seen} == {("/predict?model=champion", "application/json")}
    # One body in three answers 422: wrk counts those as status errors.
    assert summary["errors_status"] == pytest.approx(summary["requests"] / 3, abs=1)
