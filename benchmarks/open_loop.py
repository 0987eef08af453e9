"""Open-loop HTTP load at a fixed rate: request i is due at start + i / rate whatever the server does, and its
latency runs from when it was due, not from when a connection was free to send it (wrk waits for each answer
before sending again, so a slow answer delays the next request and hides the wait: coordinated omission).

The generator runs in this process on uvloop with raw HTTP/1.1 on keep-alive connections (a pool that grows
when every connection is busy), so it costs the shared cores little at the rates measured here; its CPU is
reported beside the server's."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

MAX_CONNECTIONS = 64  # the pool grows to this many when answers are slow; further requests wait (and count)
OPEN_AT_START = 8
ANSWER_TIMEOUT_S = 30.0
START_DELAY_S = 0.05  # between opening the first connections and the first due request


@dataclass
class OpenLoopResult:
    """Latencies (seconds, from each request's due time) of the answered requests, the failed ones, the wall
    time from the first due request to the last answer, and the CPU seconds the generator used."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    first_error: str | None = None


def http_requests(url: str, bodies_path: Path) -> tuple[str, int, list[bytes]]:
    """(host, port, one complete HTTP/1.1 POST per body line) for `url` (path and query included)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"open-loop load needs an http:// URL, got {url!r}")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    host, port = parts.hostname, parts.port or 80
    requests = []
    for line in bodies_path.read_text().splitlines():
        if line:
            body = line.encode()
            head = (
                f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            requests.append(head.encode() + body)
    if not requests:
        raise ValueError(f"no request bodies in {bodies_path}")
    return host, port, requests


def content_length(head: bytes) -> int:
    """The Content-Length of a response head; our servers always send one (no chunked answers)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"response without Content-Length: {head[:200]!r}")


class _Pool:
    """Keep-alive connections: an idle one if any, else a new one up to `limit`, else wait for one."""

    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port, self.limit = host, port, limit
        self.idle: asyncio.Queue = asyncio.Queue()
        self.opened = 0

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.opened -= 1
            raise

    async def acquire(self):
        if not self.idle.empty():
            return self.idle.get_nowait()
        if self.opened < self.limit:
            return await self.open()
        return await self.idle.get()

    def release(self, connection) -> None:
        self.idle.put_nowait(connection)

    def discard(self, connection) -> None:
        self.opened -= 1
        connection[1].close()

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def _exchange(connection, request: bytes) -> int:
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(content_length(head))
    return int(head[9:12])


async def _drive(
    host: str, port: int, requests: list[bytes], rate: float, seconds: float, limit: int
) -> OpenLoopResult:
    loop = asyncio.get_running_loop()
    pool = _Pool(host, port, limit)
    result = OpenLoopResult()
    for connection in await asyncio.gather(*(pool.open() for _ in range(min(OPEN_AT_START, limit)))):
        pool.release(connection)

    async def one(due: float, request: bytes) -> None:
        connection = None
        try:
            connection = await pool.acquire()
            status = await asyncio.wait_for(_exchange(connection, request), ANSWER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 (every failed request is counted, the first one named)
            if connection is not None:
                pool.discard(connection)
            result.errors += 1
            result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
            return
        pool.release(connection)
        if status == 200:
            result.latencies_s.append(loop.time() - due)
        else:
            result.errors += 1
            result.first_error = result.first_error or f"HTTP {status}"

    total = max(1, round(rate * seconds))
    start = loop.time() + START_DELAY_S
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, requests[i % len(requests)])))
    await asyncio.gather(*tasks)
    result.seconds = loop.time() - start
    pool.close()
    return result


def run_open_loop(
    url: str, bodies_path: Path, rate: float, seconds: float, max_connections: int = MAX_CONNECTIONS
) -> OpenLoopResult:
    """Send round(rate * seconds) POSTs of the bodies (cycled) to `url` at `rate` per second, open loop."""
    if not rate > 0 or not seconds > 0:
        raise ValueError(f"rate and seconds must be positive, got {rate} and {seconds}")
    host, port, requests = http_requests(url, bodies_path)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection pause in the generator would read as server latency
    started = time.process_time()
    try:
        result = uvloop.run(_drive(host, port, requests, rate, seconds, max_connections))
    finally:
        if gc_was_enabled:
            gc.enable()
    result.client_cpu_s = time.process_time() - started
    return result
