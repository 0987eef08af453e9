"""Closed-loop gRPC load with `h2load` (nghttp2's HTTP/2 benchmark, C, an event loop per thread): per call
it costs the machine about what `wrk` costs per REST request (about 9 % of a core at 1,200 calls/s here,
where the Python grpc.aio client took 40 % at 850), so both protocols are measured with the same small
share of the two cores taken by the load. A unary gRPC call is an HTTP/2 POST of one length-prefixed
message, which h2load sends as is.

What h2load cannot do, and what stands in for it:
- it sends one body file per run, so every call of a run carries the same record (wrk cycles through 256):
  neither server caches answers, so this changes no work, only which branch of the trees is taken;
- it counts HTTP 200 as success and does not read the `grpc-status` trailer, so a gRPC error would count as
  an answer: before each run one call through a real gRPC client must answer OK, and after it the response
  bytes h2load received must be the number of answered calls times the size of that OK answer (an error
  carries no message), the rest counted as errors.
Latencies come from h2load's per-request log (start time, status, microseconds to the end of the response)."""

from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cpu import cpu_percent_between, run_measuring_cpu, snapshot_tree_cpu
from benchmarks.measurement import Measurement, summarize_latencies

log = logging.getLogger(__name__)
# Every call names the same request id: our answers carry it (issue 24), and a made-up one grows by a digit
# now and then, where the calls' answers are counted by their fixed size (`unanswered`).
BENCH_REQUEST_ID = "bench"
TRAFFIC = re.compile(r"traffic: .*\((\d+)\) total, .*\((\d+)\) headers .*\((\d+)\) data")
FINISHED = re.compile(r"finished in ([\d.]+)(s|ms|us)")
UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class GrpcCall:
    """One unary call to load with: `path` is /<package.Service>/<Method>; `request` the serialized request;
    `response_size` the size of the serialized OK answer to it (what each answered call must bring back)."""

    path: str
    request: bytes
    response_size: int


def find_h2load() -> str | None:
    """Path of the `h2load` binary, or None (`make system-deps` installs nghttp2-client)."""
    return shutil.which("h2load")


def frame_grpc_message(message: bytes) -> bytes:
    """gRPC's length-prefixed message: a compressed flag (0) and the length as 4 bytes big-endian."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def write_body(folder: Path, name: str, message: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.grpc"
    path.write_bytes(frame_grpc_message(message))
    return path


def h2load_command(url: str, body: Path, concurrency: int, seconds: float, log_file: Path) -> list[str]:
    """wrk's layout (benchmarks/load.py), so the protocol is the only difference from the REST rows:
    `concurrency` connections with one call in flight each, on up to two threads. One connection with all
    calls as streams (one gRPC channel) answered 10-25 % fewer calls/s on the fixed-response server here."""
    h2load = find_h2load()
    if h2load is None:
        raise FileNotFoundError(
            "h2load is not installed: run `make system-deps` (apt-get install nghttp2-client)"
        )
    return [
        h2load,
        "-t",
        str(min(concurrency, 2)),
        "-c",
        str(concurrency),
        "-m",
        "1",
        "-D",
        str(max(1, round(seconds))),
        "-d",
        str(body),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        f"x-request-id: {BENCH_REQUEST_ID}",
        "--log-file",
        str(log_file),
        url,
    ]


def parse_log(text: str) -> tuple[list[float], int]:
    """Latencies in seconds of the HTTP 200 answers, and the number of other outcomes (failed streams: -1)."""
    latencies, failed = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        _, status, micros = line.split("\t")[:3]
        if status == "200":
            latencies.append(int(micros) / 1e6)
        else:
            failed += 1
    return latencies, failed


def parse_summary(text: str) -> tuple[float, int]:
    """h2load's measured duration in seconds and the DATA bytes it received."""
    finished, traffic = FINISHED.search(text), TRAFFIC.search(text)
    if finished is None or traffic is None:
        raise RuntimeError(f"h2load printed no summary; output: {text[-1500:]}")
    return float(finished.group(1)) * UNITS[finished.group(2)], int(traffic.group(3))


def unanswered(answered_200: int, data_bytes: int, response_size: int) -> int:
    """Calls that got HTTP 200 without their message (a gRPC error): the answers' bytes fall short of
    `answered_200` framed OK responses. In-flight calls cut at the end may add a partial message: floor."""
    complete = data_bytes // (response_size + 5)
    return max(0, answered_200 - complete)


def run_h2load(
    url: str, body: Path, concurrency: int, seconds: float, response_size: int, log_file: Path
) -> tuple[list[float], int, float, float]:
    """One h2load run: (latencies of answered calls, errors, seconds, h2load's CPU seconds)."""
    log_file.unlink(missing_ok=True)
    command = h2load_command(url, body, concurrency, seconds, log_file)
    done, cpu_seconds = run_measuring_cpu(command, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"h2load failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    duration, data_bytes = parse_summary(done.stdout)
    latencies, failed = parse_log(log_file.read_text())
    missing = unanswered(len(latencies), data_bytes, response_size)
    # Which answers lacked their message is unknown: the errors are taken off the count, not the latencies.
    return latencies[: len(latencies) - missing], failed + missing, duration, cpu_seconds


def measure_grpc_h2load(
    setting: str,
    server: str,
    server_pid: int,
    base_url: str,
    call: GrpcCall,
    workdir: Path,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    rows_per_request: int,
    check_call=None,
    count_errors=None,
) -> Measurement:
    """Warm up, check one call with a real client (`check_call()` raises unless it answers OK), then measure
    one setting with the server tree's CPU and h2load's own CPU over the measured run. `count_errors()`, when
    the server counts its errors, is read before and after: the run's errors are at least its increase."""
    body = write_body(workdir, setting_file_name(setting, server), call.request)
    url, log_file = base_url + call.path, workdir / f"{setting_file_name(setting, server)}.log"
    if warmup_s > 0:
        run_h2load(url, body, concurrency, warmup_s, call.response_size, log_file)
    if check_call is not None:
        check_call()
    errors_before = count_errors() if count_errors else 0
    before, started = snapshot_tree_cpu(server_pid), time.monotonic()
    latencies, errors, duration, client_cpu_s = run_h2load(
        url, body, concurrency, seconds, call.response_size, log_file
    )
    wall = time.monotonic() - started
    if count_errors:
        errors = max(errors, round(count_errors() - errors_before))
    result = summarize_latencies(
        setting,
        server,
        latencies,
        duration,
        errors=errors,
        cpu_percent=cpu_percent_between(before, snapshot_tree_cpu(server_pid), wall),
        rows_per_request=rows_per_request,
        concurrency=concurrency,
        client_cpu_percent=100.0 * client_cpu_s / wall,
        load_generator="h2load",
    )
    if errors:
        log.warning("%s on %s: %d errors out of %d calls", setting, server, errors, result.requests + errors)
    log.info(
        "%s on %s: %.1f calls/s, p50 %.2f ms, p99 %.2f ms, server CPU %.0f%%, h2load CPU %.0f%%",
        setting,
        server,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        result.cpu_percent,
        result.client_cpu_percent,
    )
    return result


def setting_file_name(setting: str, server: str) -> str:
    """A file name for a setting's body and log: letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9]+", "-", f"{server} {setting}".lower()).strip("-")
