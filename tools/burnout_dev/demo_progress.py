"""The progress of `burnout demo`, step by step, built from the log records the library already writes: the
library stays free of display code, and a logging handler (`ProgressListener`) turns its records (ETL row
counts, "tuning ...", Optuna's "Trial N finished ...", "trained ...", "promotion: ...") into step updates.

`PipelineProgress` holds the steps and estimates the time left; burnout_dev.demo_display shows them."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# The loggers whose records tell the progress; Optuna's own logger does not propagate to the root.
LISTENED_LOGGERS = ("etl", "modeling", "burnout", "optuna")
PENDING, RUNNING, DONE, REUSED, FAILED = "pending", "running", "done", "reused", "failed"
# Steps of a minute or so beside the families' tuning: their start is worth a line in a plain log.
LONG_STEPS = ("ensemble", "promote")


@dataclass
class Step:
    """One pipeline step as the user sees it."""

    name: str
    label: str
    status: str = PENDING
    started: float | None = None
    finished: float | None = None
    detail: str = ""
    trials_done: int = 0
    trials_total: int | None = None
    best_cv: float | None = None
    last_trial_at: float | None = None

    def seconds(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started


class PipelineProgress:
    """The demo's steps and their state; every change is passed to `on_change(progress, step, event)`."""

    def __init__(
        self,
        families: tuple[str, ...],
        trial_budget: int,
        on_change: Callable[[PipelineProgress, Step, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.families = families
        self.trial_budget = trial_budget
        self.on_change = on_change or (lambda progress, step, event: None)
        self.clock = clock
        self.started = clock()
        self.lock = threading.RLock()
        labels = {
            "airflow": "Airflow metadata DB",
            "ingest": "ingest raw data",
            "etl": "ETL",
            **{family: f"tune {family}" for family in families},
            "ensemble": "ensemble",
            "promote": "promotion",
        }
        self.steps = {name: Step(name, label) for name, label in labels.items()}
        self.counts: dict[str, int] = {}
        self.tuning: str | None = None

    def start(self, name: str, detail: str = "") -> None:
        with self.lock:
            step = self.steps[name]
            if step.status != PENDING:
                return
            step.status, step.started, step.detail = RUNNING, self.clock(), detail
            self.on_change(self, step, "start")

    def finish(self, name: str, detail: str = "", status: str = DONE) -> None:
        with self.lock:
            step = self.steps[name]
            if step.status in (DONE, REUSED, FAILED):
                return
            now = self.clock()
            step.started = step.started if step.started is not None else now
            step.status, step.finished, step.detail = status, now, detail or step.detail
            self.on_change(self, step, "finish")
            self.start_next(name)

    def start_next(self, name: str) -> None:
        """The DAG's order: ingest, ETL, the families (any order), the ensemble after them all, promotion."""
        if name == "ingest":
            self.start("etl")
        elif name in self.families and all(
            self.steps[f].status in (DONE, REUSED, FAILED) for f in self.families
        ):
            self.start("ensemble")
        elif name == "ensemble":
            self.start("promote")

    def note(self, name: str, detail: str) -> None:
        """Show `detail` beside a running step (the live table only: not worth a line of its own)."""
        with self.lock:
            self.start(name)
            self.steps[name].detail = detail

    def tuning_started(self, family: str, trials_to_run: int) -> None:
        with self.lock:
            self.tuning = family
            step = self.steps[family]
            step.trials_total = trials_to_run
            self.start(family, f"0/{trials_to_run} trials")
            step.last_trial_at = self.clock()

    def trial_finished(self, best_cv: float | None) -> None:
        with self.lock:
            if self.tuning is None:
                return
            step = self.steps[self.tuning]
            step.trials_done += 1
            step.last_trial_at = self.clock()
            if best_cv is not None:
                step.best_cv = best_cv
            best = "" if step.best_cv is None else f", best CV macro-F1 {step.best_cv:.3f}"
            step.detail = f"{step.trials_done}/{step.trials_total} trials{best}"
            self.on_change(self, step, "trial")

    def count(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)

    def seconds_left(self) -> float | None:
        """About how long tuning and fitting still take: the trials left (a family not started yet: the
        budget) times the seconds per trial so far, plus, for each model still to fit (the families and the
        ensemble), the seconds a finished family took after its last trial (one trial's time before that),
        less what a fit under way already took. None before the first trial."""
        with self.lock:
            now = self.clock()
            trial_seconds, trials_done, trials_left, fit_seconds = 0.0, 0, 0, []
            fits_under_way: list[float] = []  # seconds each unfinished fit has been running (0: not started)
            for family in self.families:
                step = self.steps[family]
                if step.trials_done:
                    trial_seconds += step.last_trial_at - step.started
                    trials_done += step.trials_done
                if step.status in (DONE, FAILED) and step.trials_done:
                    fit_seconds.append(step.finished - step.last_trial_at)
                if step.status in (DONE, REUSED, FAILED):
                    continue
                total = step.trials_total if step.trials_total is not None else self.trial_budget
                trials_left += max(total - step.trials_done, 0)
                fitting = step.status == RUNNING and step.trials_done >= total
                fits_under_way.append(now - step.last_trial_at if fitting else 0.0)
            ensemble = self.steps["ensemble"]
            if ensemble.status in (PENDING, RUNNING):
                fits_under_way.append(now - ensemble.started if ensemble.status == RUNNING else 0.0)
            if not trials_done:
                return None
            per_trial = trial_seconds / trials_done
            per_fit = sum(fit_seconds) / len(fit_seconds) if fit_seconds else per_trial
            return per_trial * trials_left + sum(max(per_fit - spent, 0.0) for spent in fits_under_way)


# (logger name prefix, pattern, handler(progress, match)); the first match wins.
def _etl_counts(progress: PipelineProgress) -> str:
    c = progress.counts
    parts = []
    if "kept" in c:
        parts.append(f"{c['kept']:,} of {c['rows']:,} rows kept, {c.get('quarantined', 0):,} quarantined")
    if "train" in c:
        parts.append(f"{c['train']:,} train / {c['test']:,} test")
    return "; ".join(parts)


RULES: tuple[tuple[str, re.Pattern, Callable[[PipelineProgress, re.Match], None]], ...] = (
    ("etl.ingest", re.compile(r"^(uploaded|raw dataset already|raw object .* already)"),
     lambda p, m: p.finish("ingest", "raw data in the lake")),
    ("etl.validate", re.compile(r"^quarantined (\d+) of"), lambda p, m: p.count(quarantined=int(m[1]))),
    ("etl.clean", re.compile(r"^cleaning kept (\d+) of (\d+) rows"),
     lambda p, m: p.count(kept=int(m[1]), rows=int(m[2]))),
    ("etl.split", re.compile(r"^split \d+ rows into (\d+) train and (\d+) test"),
     lambda p, m: p.count(train=int(m[1]), test=int(m[2]))),
    ("etl.run_etl", re.compile(r"^ETL published (\w+)"), lambda p, m: p.finish("etl", _etl_counts(p))),
    ("etl.run_etl", re.compile(r"^dataset (\w+) already published"),
     lambda p, m: p.finish("etl", f"dataset {m[1]} reused", REUSED)),
    ("modeling.tune", re.compile(r"^tuning (\w+) on \d+ rows, \d+ folds: (\d+) trial"),
     lambda p, m: p.tuning_started(m[1], int(m[2]))),
    ("optuna", re.compile(r"^Trial \d+ finished .* Best is trial \d+ with value: (\d+(?:\.\d+)?)"),
     lambda p, m: p.trial_finished(float(m[1]))),
    ("optuna", re.compile(r"^Trial \d+ (pruned|failed)"), lambda p, m: p.trial_finished(None)),
    ("modeling.train", re.compile(r"^trained (\w+) v(\d+): cv macro-F1 (\S+), test macro-F1 ([\d.]+ \[.*\])"),
     lambda p, m: p.finish(m[1], f"v{m[2]}, CV {m[3]}, test macro-F1 {m[4]}")),
    ("modeling.train", re.compile(r"^(\w+): version (\d+) already trained"),
     lambda p, m: p.finish(m[1], f"v{m[2]} reused (already trained on this dataset)", REUSED)),
    ("modeling.ensemble", re.compile(r"^out-of-fold probabilities of (\w+)"),
     lambda p, m: p.note("ensemble", f"out-of-fold probabilities of {m[1]} done")),
    ("modeling.ensemble", re.compile(r"^ensemble v(\d+) of .* is reused"),
     lambda p, m: p.finish("ensemble", f"v{m[1]} reused", REUSED)),
)  # fmt: skip


class ProgressListener(logging.Handler):
    """A logging handler that feeds the library's records to a `PipelineProgress`; `attach` it."""

    def __init__(self, progress: PipelineProgress) -> None:
        super().__init__(level=logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            for prefix, pattern, apply in RULES:
                if record.name.startswith(prefix) and (match := pattern.search(message)):
                    apply(self.progress, match)
                    return
        except Exception:  # a display problem must never fail the pipeline
            self.handleError(record)

    def attach(self) -> None:
        for name in LISTENED_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)

    def detach(self) -> None:
        for name in LISTENED_LOGGERS:
            logging.getLogger(name).removeHandler(self)
