"""A background thread that calls a refresh function every interval, backing off while it fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


def backoff_delay(interval: float, failures: int) -> float:
    """Wait after `failures` failures in a row: min(1 s, interval), doubling, at most max(interval, 30 s)."""
    if failures == 0:
        return interval
    return min(min(1.0, interval) * 2 ** (failures - 1), max(interval, MAX_BACKOFF_S))


class Poller:
    """Runs `refresh()` (True = healthy) now and then every `interval` seconds until `stop()`."""

    def __init__(self, refresh: Callable[[], bool], interval: float, name: str = "burnout-alias-poller"):
        self._refresh = refresh
        self._interval = interval
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Refresh now instead of at the next interval (a no-op when a refresh is already due)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                healthy = self._refresh()
            except Exception:  # the poller must outlive any bug in one refresh
                log.exception("refresh failed")
                healthy = False
            failures = 0 if healthy else failures + 1
            # A poke that came during the refresh still counts: its caller waits for the next one.
            self._wake.wait(backoff_delay(self._interval, failures))
            self._wake.clear()
