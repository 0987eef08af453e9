"""`burnout pipeline`: the pipeline's declared steps (pipeline.steps.STEPS), the ones the burnout_pipeline DAG
runs as tasks, run one after the other in this process, each timed; the result is the summary step's."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from burnout_base.settings import Settings
from pipeline.steps import STEPS, Step

log = logging.getLogger(__name__)


def run_timed(seconds: dict[str, float], step: str | None, fn: Callable[..., Any], /, *args, **kwargs) -> Any:
    """Call `fn` and record its wall time under `step` (None: not recorded)."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    if step is not None:
        seconds[step] = round(time.monotonic() - started, 1)
        log.info("step %s took %.1fs", step, seconds[step])
    return result


def run_step(step: Step, settings: Settings, outputs: dict[str, Any]) -> Any:
    """Run `step` on the outputs so far (once per family when it is per family), timing it."""
    from modeling.families import FAMILIES

    inputs = {name: outputs[name] for name in step.takes}
    seconds = outputs["seconds"]
    if not step.per_family:
        return run_timed(seconds, step.timed_as, step.run, settings, **inputs)
    return {
        family: run_timed(
            seconds, step.timed_as.format(family=family), step.run, settings, family=family, **inputs
        )
        for family in FAMILIES
    }


def run_pipeline(
    settings: Settings,
    input: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    retrain: bool = False,
) -> dict:
    """The burnout_pipeline DAG's steps in this process, with the same library calls and the same defaults.

    `input` (None = the data folder's CSV, uploaded to the lake's raw object once); `trials`/`timeout` per
    family (None = settings); `retrain` trains a family even if this dataset version already has a model of
    it. Returns pipeline.summary.summarize's summary, whose seconds are {ingest, etl, train_<family>...,
    train_ensemble, promote, total}.
    """
    request = {
        "input": input,
        "trials": trials,
        "timeout_s": timeout,
        "tuning_workers": None,
        "retrain": retrain,
    }
    outputs: dict[str, Any] = {"request": request, "seconds": {}, "started_at": time.time()}
    for step in STEPS:
        outputs[step.gives] = run_step(step, settings, outputs)
    return outputs["summary"]
