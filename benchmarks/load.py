"""Closed-loop HTTP load with `wrk` (C, epoll: it costs the machine far less than the servers it measures,
which a Python client would not): every connection POSTs the next JSON body and waits for the answer before
sending again. A Lua script reads the bodies from a file and prints wrk's summary as one JSON line, parsed
here."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from benchmarks.cpu import cpu_percent_between, run_measuring_cpu, snapshot_tree_cpu
from benchmarks.measurement import Measurement

log = logging.getLogger(__name__)
RESULT_MARKER = "BENCH_RESULT "

# Requests are formatted once per thread in init(), so the per-request Lua cost is a table lookup.
LUA_SCRIPT = """\
local prepared = {}
local count = 0
local next_index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[1]) do
    if #line > 0 then
      count = count + 1
      prepared[count] = wrk.format("POST", nil, headers, line)
    end
  end
  if count == 0 then error("no request bodies in " .. args[1]) end
end

function request()
  next_index = next_index % count + 1
  return prepared[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, "errors_write": %d, '
    .. '"errors_status": %d, "errors_timeout": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.3f}\\n',
    "BENCH_RESULT ", summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def find_wrk() -> str | None:
    """Path of the `wrk` binary, or None when it is not installed (`make system-deps` installs it)."""
    return shutil.which("wrk")


def write_load_files(folder: Path, name: str, bodies: list[str]) -> Path:
    """Write the bodies (one JSON document per line) and the Lua script; return the bodies file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "post_bodies.lua").write_text(LUA_SCRIPT)
    path = folder / f"{name}.jsonl"
    for body in bodies:
        if "\n" in body:
            raise ValueError("a request body must be a single line of JSON")
    path.write_text("\n".join(bodies) + "\n")
    return path


def parse_wrk_output(text: str) -> dict:
    """The JSON summary the Lua script's done() printed; raises when wrk printed none (it failed)."""
    for line in text.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    raise RuntimeError(f"wrk printed no result line; output: {text[-1500:]}")


def measurement_from_wrk(setting: str, server: str, summary: dict, **extra) -> Measurement:
    """Turn the script's summary into a Measurement; every kind of wrk error counts as an error."""
    errors = sum(v for k, v in summary.items() if k.startswith("errors_"))
    return Measurement(
        setting=setting,
        server=server,
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
        mean_ms=summary["mean_us"] / 1e3,
        errors=int(errors),
        **extra,
    )


def run_wrk(url: str, bodies_path: Path, connections: int, seconds: float, timeout_s: float = 30.0) -> dict:
    """Run wrk for `seconds` against `url` with `connections` closed-loop connections; return its summary,
    with the CPU seconds wrk itself used as `client_cpu_s`."""
    wrk = find_wrk()
    if wrk is None:
        raise FileNotFoundError("wrk is not installed: run `make system-deps` (apt-get install wrk)")
    # One wrk thread per core at most: more threads would only steal CPU from the server under test.
    threads = min(connections, 2)
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        f"{int(timeout_s)}s",
        "-s",
        str(bodies_path.parent / "post_bodies.lua"),
        url,
        "--",
        str(bodies_path),
    ]
    done, cpu_seconds = run_measuring_cpu(command, timeout=seconds + timeout_s + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-1500:]}")
    return {**parse_wrk_output(done.stdout), "client_cpu_s": cpu_seconds}


def measure_http(
    setting: str,
    server: str,
    server_pid: int,
    url: str,
    bodies_path: Path,
    connections: int,
    seconds: float,
    warmup_s: float,
    rows_per_request: int,
) -> Measurement:
    """Warm up, then measure one setting on one server, with the server tree's CPU over the measured run."""
    if warmup_s > 0:
        run_wrk(url, bodies_path, connections, warmup_s)
    before, started = snapshot_tree_cpu(server_pid), time.monotonic()
    summary = run_wrk(url, bodies_path, connections, seconds)
    wall = time.monotonic() - started
    cpu = cpu_percent_between(before, snapshot_tree_cpu(server_pid), wall)
    result = measurement_from_wrk(
        setting,
        server,
        summary,
        cpu_percent=cpu,
        rows_per_request=rows_per_request,
        concurrency=connections,
        client_cpu_percent=100.0 * summary["client_cpu_s"] / wall,
        load_generator="wrk",
    )
    if result.errors:
        log.warning("%s on %s: %d errors out of %d requests", setting, server, result.errors, result.requests)
    log.info(
        "%s on %s: %.1f req/s, p50 %.2f ms, p99 %.2f ms, server CPU %.0f%%, wrk CPU %.0f%%",
        setting,
        server,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        cpu,
        result.client_cpu_percent,
    )
    return result
