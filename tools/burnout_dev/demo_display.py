"""What the terminal shows while `burnout demo` runs, and where everything else goes: `render_table` draws the
steps of a `PipelineProgress` for a live terminal (rich), `PlainReporter` prints one line per event when the
output is not a terminal (a pipe, a CI log), `output_to_log` sends the process's output to the log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from burnout_dev.demo_progress import (
    DONE,
    FAILED,
    LONG_STEPS,
    PENDING,
    REUSED,
    RUNNING,
    PipelineProgress,
    Step,
)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def describe_eta(progress: PipelineProgress) -> str:
    left = progress.seconds_left()
    return "" if left is None or left < 1 else f"about {format_seconds(left)} of tuning and fitting left"


class PlainReporter:
    """One line per event, for output that is not a terminal: `[  12s] ETL  done  21,505 of ... (8.7s)`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, progress: PipelineProgress, step: Step, event: str) -> None:
        now = progress.clock()
        elapsed = now - progress.started
        if event == "start" and step.name not in LONG_STEPS and step.name not in progress.families:
            return  # a plain log needs the results; a start line is printed only for the long steps
        if event == "start":
            text = f"started ({step.trials_total} trials)" if step.trials_total else "started"
        elif event == "trial":
            eta = describe_eta(progress)
            text = step.detail + (f"; {eta}" if eta else "")
        else:
            text = f"{step.status}" + (f": {step.detail}" if step.detail else "")
            text += f" ({format_seconds(step.seconds(now))})"
        self.out.write(f"[{format_seconds(elapsed):>6}] {step.label:<20} {text}\n")
        self.out.flush()


SYMBOLS = {PENDING: "[dim]·[/]", RUNNING: "[yellow]…[/]", DONE: "[green]✓[/]", REUSED: "[cyan]↺[/]",
           FAILED: "[red]✗[/]"}  # fmt: skip


def render_table(progress: PipelineProgress):
    """The steps as a rich table, with the elapsed time and the estimate left in its caption."""
    from rich.table import Table

    now = progress.clock()
    with progress.lock:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(width=1)
        table.add_column(min_width=20)
        table.add_column(justify="right", min_width=6)
        table.add_column()
        for step in progress.steps.values():
            detail = step.detail
            if step.status == RUNNING and step.trials_total:
                bar = int(20 * step.trials_done / max(step.trials_total, 1))
                detail = f"[green]{'━' * bar}[/][dim]{'━' * (20 - bar)}[/] {detail}"
            table.add_row(SYMBOLS[step.status], step.label, format_seconds(step.seconds(now)), detail)
        eta = describe_eta(progress)
        table.caption = f"elapsed {format_seconds(now - progress.started)}" + (f" · {eta}" if eta else "")
        table.caption_justify = "left"
    return table


@contextlib.contextmanager
def output_to_log(path: Path) -> Iterator[tuple[TextIO, TextIO]]:
    """Send everything written to this process's stdout and stderr (file descriptors 1 and 2, so Airflow's
    task logs, Python warnings and any subprocess too) to `path`; yield writers to the real terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    out = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    err = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    logging.captureWarnings(True)  # warnings as log records, in the log's format
    try:
        yield out, err
    finally:
        logging.captureWarnings(False)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        out.close()
        err.close()
