"""gRPC load with h2load: framing, parsing its log and summary, and a real run against a gRPC server that
answers OK or fails: a failed call gets HTTP 200 too, and must still count as an error."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from benchmarks.grpc_check import call_unary, check_ok, checked_call
from benchmarks.h2load import (
    GrpcCall,
    find_h2load,
    frame_grpc_message,
    h2load_command,
    parse_log,
    parse_summary,
    run_h2load,
    unanswered,
    write_body,
)

SUMMARY = """
finished in 2.00s, 1500.50 req/s, 150.00KB/s
requests: 3001 total, 3009 started, 3001 done, 3001 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 3001 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 300.00KB (307200) total, 120.00KB (122880) headers (space savings 90.00%), 90.00KB (92160) data
"""
ANSWER = b"twelve bytes"


def test_frame_grpc_message_prefixes_flag_and_big_endian_length():
    assert frame_grpc_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame_grpc_message(b"x" * 300)[:5] == b"\x00\x00\x00\x01\x2c"


def test_parse_log_keeps_200_latencies_and_counts_failed_streams():
    latencies, failed = parse_log("1700000000000000\t200\t1500\n1700000000000100\t-1\t20\n\n1\t200\t500\n")
    assert latencies == [0.0015, 0.0005]
    assert failed == 1


def test_parse_summary_reads_duration_and_data_bytes():
    assert parse_summary(SUMMARY) == (2.0, 92160)
    with pytest.raises(RuntimeError, match="no summary"):
        parse_summary("h2load: connection refused")


def test_unanswered_counts_200s_that_carried_no_message():
    assert unanswered(answered_200=10, data_bytes=10 * 17, response_size=12) == 0
    assert unanswered(answered_200=10, data_bytes=7 * 17, response_size=12) == 3
    assert unanswered(answered_200=10, data_bytes=10 * 17 + 9, response_size=12) == 0  # a cut answer


def test_h2load_command_opens_connections_as_wrk_does(tmp_path):
    if find_h2load() is None:
        pytest.skip("h2load not installed (make system-deps)")
    command = h2load_command("http://127.0.0.1:1/a.B/C", tmp_path / "b", 8, 2.4, tmp_path / "log")
    flags = dict(zip(command[1:-1:2], command[2:-1:2], strict=True))
    assert (flags["-t"], flags["-c"], flags["-m"], flags["-D"]) == ("2", "8", "1", "2")
    assert command[-1] == "http://127.0.0.1:1/a.B/C"
    assert "content-type: application/grpc" in command and "te: trailers" in command


@pytest.fixture
def grpc_server():
    """A gRPC server whose `test.Echo/Ok` answers ANSWER and `test.Echo/Fail` fails (INTERNAL)."""

    def ok(_request: bytes, _context) -> bytes:
        return ANSWER

    def fail(_request: bytes, context):
        context.abort(grpc.StatusCode.INTERNAL, "boom")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def test_call_unary_returns_the_answer_or_raises(grpc_server):
    assert call_unary(grpc_server, "/test.Echo/Ok", b"") == ANSWER
    with pytest.raises(grpc.RpcError):
        call_unary(grpc_server, "/test.Echo/Fail", b"")
    with pytest.raises(grpc.RpcError):
        check_ok(grpc_server, GrpcCall("/test.Echo/Fail", b"", 12))


@pytest.mark.skipif(find_h2load() is None, reason="h2load not installed (make system-deps)")
def test_run_h2load_measures_answers_and_counts_grpc_errors(grpc_server, tmp_path):
    body = write_body(tmp_path, "body", b"")
    url = f"http://{grpc_server}"

    class Request:  # what checked_call needs of a protobuf message
        def SerializeToString(self) -> bytes:  # noqa: N802
            return b""

    call = checked_call(grpc_server, "/test.Echo/Ok", Request())
    assert call.response_size == len(ANSWER)
    latencies, errors, seconds, cpu = run_h2load(
        url + call.path, body, 4, 1, call.response_size, tmp_path / "l"
    )
    assert len(latencies) > 10 and errors == 0
    assert 0.9 < seconds < 1.5 and 0 < cpu < seconds
    latencies, errors, _, _ = run_h2load(url + "/test.Echo/Fail", body, 4, 1, len(ANSWER), tmp_path / "l")
    assert latencies == [] and errors > 10
