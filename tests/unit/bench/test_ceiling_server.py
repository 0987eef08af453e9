"""The ceiling server answers the fixed bytes on both protocols, whatever it is sent."""

from __future__ import annotations

from fastapi.testclient import TestClient

from benchmarks.ceiling_server import GRPC_METHOD, GRPC_SERVICE, REST_PATH, build_fixed_app, start_fixed_grpc
from benchmarks.grpc_check import call_unary
from burnout_dev.processes import free_port


def test_rest_route_answers_the_fixed_json(settings):
    answer = b'{"predictions":[{"class":"Low"}]}'
    with TestClient(build_fixed_app(settings, answer)) as client:
        response = client.post(REST_PATH + "?model=champion", json=[{"any": "record"}])
    assert (response.status_code, response.content) == (200, answer)
    assert response.headers["content-type"] == "application/json"


def test_grpc_method_answers_the_fixed_bytes(make_settings):
    settings = make_settings(api_host="127.0.0.1", grpc_port=free_port())
    server = start_fixed_grpc(settings, b"\x0a\x03abc")
    try:
        target = f"127.0.0.1:{settings.grpc_port}"
        assert call_unary(target, f"/{GRPC_SERVICE}/{GRPC_METHOD}", b"whatever") == b"\x0a\x03abc"
    finally:
        server.stop(0)
