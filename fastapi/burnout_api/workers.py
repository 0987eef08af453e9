"""Every core: `burnout serve` as `BURNOUT_API_WORKERS` processes sharing the HTTP and gRPC ports.

One Python process answers on about one core (the GIL), so the service starts one worker per CPU it may use
(`burnout_base.cpus`: affinity and the cgroup quota). Each worker is a whole service: its own core and copy
of the models, its own prediction-log writer (its own parts in the lake), REST + GraphQL + gRPC bound to the
same two ports with SO_REUSEPORT. The kernel spreads new connections across the workers; nothing of ours
balances.

uvicorn's and gunicorn's worker models run only their own HTTP server in a worker, without the gRPC server
and the bounded drain each of ours runs, so this parent does the little that is left, and nothing more:
- start the workers (spawn: no state forked from this process) and stop them all when one exits on its own
  (exit 1: the container or unit restarts the service; restarting workers one by one is not ours to do);
- pass SIGTERM/SIGINT on, so every worker drains as one process would, within the same bounds;
- relay a refresh one worker was asked for (POST /reload, the alias routes) to the others, over pipes;
- give the workers one folder for prometheus_client's multiprocess mode, so /metrics adds them up.

Workers run in their own process group (Ctrl-C reaches this parent only, which passes SIGTERM on) and stop
by themselves when this parent is gone (their pipe from it closes).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.connection import Connection, wait

from burnout_api.core.metrics import MULTIPROCESS_DIR_ENV
from burnout_base.cpus import available_cpus
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s worker {index} %(name)s: %(message)s"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CHECK_EVERY_S = 0.5  # how often the parent looks at its signals while no worker or pipe wakes it
KILL_MARGIN_S = 5.0  # past every worker's own exit bound, the parent kills what is left


def worker_count(settings: Settings) -> int:
    """BURNOUT_API_WORKERS, else the CPUs this process may use."""
    return settings.api_workers or available_cpus()


class WorkerLink:
    """A worker's ends of its pipes to the parent: it announces refreshes on one (shared by all workers) and
    hears the others' on its own; when the parent is gone its own pipe closes and the worker stops itself."""

    def __init__(self, index: int, announcements: Connection, notices: Connection, log_level: int):
        self.index, self.log_level = index, log_level
        self._announcements, self._notices = announcements, notices
        self._lock: threading.Lock | None = None  # made in the worker: a lock does not cross processes

    def attach(self, core) -> None:
        """Wire `core` (an InferenceCore) to the other workers."""
        self._lock = threading.Lock()
        core.announce_refresh = self._announce
        threading.Thread(target=self._listen, args=(core,), name="worker-link", daemon=True).start()

    def _announce(self) -> None:
        try:
            with self._lock:  # several requests may announce at once: one message at a time on the pipe
                self._announcements.send_bytes(str(self.index).encode())
        except OSError as exc:
            log.warning("could not tell the other workers to refresh: %s", exc)

    def _listen(self, core) -> None:
        while True:
            try:
                self._notices.recv_bytes()
            except (EOFError, OSError):
                log.error("the service's parent process is gone: stopping this worker")
                os.kill(os.getpid(), signal.SIGTERM)
                return
            core.refresh_soon()


def run_workers(settings: Settings, count: int) -> None:
    """Serve with `count` worker processes until SIGTERM/SIGINT (then every worker drains) or until a worker
    exits by itself (then the others drain and this raises SystemExit(1))."""
    _prepare_registry(settings)
    metrics_dir = tempfile.mkdtemp(prefix="burnout-metrics-")
    # Inherited by the workers, which import prometheus_client after it is set; this process counts nothing.
    os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir
    context = multiprocessing.get_context("spawn")
    announcements, announcing = context.Pipe(duplex=False)
    level = logging.getLogger().getEffectiveLevel()
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    stop_signals: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: stop_signals.append(signum)) for sig in STOP_SIGNALS
    }
    try:
        for index in range(count):
            notices, notifying = context.Pipe(duplex=False)
            link = WorkerLink(index, announcing, notices, level)
            process = context.Process(
                target=_worker_main, args=(settings, link), name=f"burnout-worker-{index}"
            )
            process.start()
            notices.close()  # the worker holds its own copy: this end's EOF must come from the worker alone
            workers.append((process, notifying))
        announcing.close()
        log.info("serving with %d workers (pids %s)", count, ", ".join(str(p.pid) for p, _ in workers))
        failed = _supervise(workers, announcements, stop_signals)
        _stop(workers, settings)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.environ.pop(MULTIPROCESS_DIR_ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if failed:
        raise SystemExit(1)


def _prepare_registry(settings: Settings) -> None:
    """An embedded (SQLite) registry is created and migrated by its first reader: here, once, rather than by
    every worker at the same time (two migrations at once leave it half-done: "table _alembic_tmp_params
    already exists"). A failure here is the workers' to report."""
    if not str(settings.mlflow_tracking_uri).startswith("sqlite:"):
        return
    from burnout_api.core.model_store import ModelStore

    try:
        ModelStore(settings).fetch_aliases()
    except Exception as exc:
        log.warning("the registry could not be read before starting the workers: %s", exc)


def _supervise(workers, announcements: Connection, stop_signals: list[int]) -> bool:
    """Relay refresh announcements until a stop signal (False) or a worker's own exit (True)."""
    sentinels = [process.sentinel for process, _ in workers]
    while not stop_signals:
        ready = wait([announcements, *sentinels], timeout=CHECK_EVERY_S)
        if announcements in ready:
            try:
                sender = int(announcements.recv_bytes())
            except EOFError:  # every worker has exited: the sentinels say so below
                sender = -1
            else:
                for index, (_, notifying) in enumerate(workers):
                    if index != sender:
                        with contextlib.suppress(OSError):  # that worker is exiting: its sentinel tells
                            notifying.send_bytes(b"refresh")
        exited = [process for process, _ in workers if process.exitcode is not None]
        if exited:
            for process in exited:
                log.error(
                    "worker %s exited by itself (exit code %s): stopping the service",
                    process.pid,
                    process.exitcode,
                )
            return True
    log.info("received %s: every worker drains", signal.Signals(stop_signals[0]).name)
    return False


def _stop(workers, settings: Settings) -> None:
    """SIGTERM every worker still running, then wait as long as their own drain may take, then kill."""
    from burnout_api.http_server import EXIT_MARGIN_S

    for process, _ in workers:
        if process.exitcode is None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.drain_delay_s + settings.shutdown_grace_s + EXIT_MARGIN_S
    deadline += KILL_MARGIN_S
    for process, notifying in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            log.error("worker %s did not stop in time: killing it", process.pid)
            process.kill()
            process.join()
        notifying.close()


def _worker_main(settings: Settings, link: WorkerLink) -> None:
    """A worker process: the whole service on the shared ports."""
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent alone, which passes SIGTERM on: one drain, not two
    logging.basicConfig(level=link.log_level, format=LOG_FORMAT.format(index=link.index))
    from burnout_api.main import serve_process

    serve_process(settings, link)
    # Everything is written (the prediction log flushed, the listeners closed): skip the interpreter's
    # teardown, which took 2-5 s here after a drain and would count against the parent's exit bound, but
    # run the exit handlers (they stop a compile of the trees still under way).
    atexit._run_exitfuncs()
    logging.shutdown()
    os._exit(0)
