"""The pipeline's steps, declared once: each a plain function of the settings and small dicts (the run's
request, the outputs of the steps before it), and `STEPS`, their order. `burnout pipeline`
(pipeline.run.run_pipeline) runs them one after the other in this process; the burnout_pipeline DAG runs
each as the tasks named in its `dag_tasks`, the "train family" step spread over Celery workers (plan_training,
then K tune tasks sharing the family's study, then train).

The request is the DAG's trigger form: input (None = the lake's raw object), trials, timeout_s,
tuning_workers (None = Airflow Variables, then settings), retrain and promote_on_live_evidence (None =
settings)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from burnout_base.settings import Settings
from pipeline.summary import summarize

Request = Mapping[str, Any]


def ingest(settings: Settings, request: Request) -> dict:
    """Upload the input CSV (None: the data folder's, generated when there is none) to the lake's raw object
    unless it is there already."""
    from etl.ingest import ingest_raw_data

    return ingest_raw_data(settings, request.get("input"))


def prepare_dataset(settings: Settings, request: Request) -> dict:
    """Publish (or reuse) the dataset version of the request's input, else of the lake's raw object."""
    from burnout_base.plain import to_plain
    from etl.run_etl import run_etl

    return to_plain(run_etl(request.get("input") or None, settings))


def choose_budget(
    settings: Settings, request: Request, variables: Mapping[str, str | None] | None = None
) -> dict:
    """The tuning budget per family: the request, else `variables` (the DAG's Airflow Variables), else
    settings."""
    from modeling.budget import resolve_budget

    return resolve_budget(
        settings, request.get("trials"), request.get("timeout_s"), variables, request.get("tuning_workers")
    )


def train_family(settings: Settings, request: Request, family: str, dataset: dict, budget: dict) -> dict:
    """Tune, fit, evaluate and register `family` on the dataset (one tuning worker), or reuse the version it
    already has on this dataset unless the request says retrain."""
    from modeling.train import train_or_reuse

    return train_or_reuse(family, settings, dataset["dataset_version"], budget, request.get("retrain", False))


def train_ensemble(settings: Settings, request: Request, dataset: dict) -> dict:
    """The weighted vote of the families' registered versions on this dataset (reused while they are
    unchanged, unless the request says retrain). Runs after every family: it votes with their versions."""
    import modeling.ensemble

    return modeling.ensemble.train_ensemble(
        settings, dataset["dataset_version"], request.get("retrain", False)
    )


def promote(settings: Settings, request: Request) -> dict:
    """First, when the request's promote_on_live_evidence (None = settings) says so, the challenger takes
    `champion` if the live evidence surely favours it (pipeline.live_promotion); otherwise the best candidate
    (families and ensemble, read from their aliases) takes it if it beats the incumbent on TEST, and the best
    candidate that is not the champion takes `challenger`. The result holds `live_evidence` either way."""
    from burnout_base.plain import to_plain
    from modeling.registry import promote_best
    from pipeline.live_promotion import promote_on_live_evidence

    promotion, live = promote_on_live_evidence(settings, request.get("promote_on_live_evidence"))
    if promotion is None:
        promotion = promote_best(settings)
    return to_plain({**promotion, "live_evidence": live})


def reload_api(settings: Settings) -> dict:
    """Ask the serving API to reload now (skipped with a log line when it is not running)."""
    from pipeline.reload_api import notify_reload

    return notify_reload(settings)


@dataclass(frozen=True)
class Step:
    """One step of the pipeline: `run(settings, **inputs)` with `takes` read from the run's outputs so far
    (the request, the earlier steps' outputs, the step times and the run's start), its output kept as
    `gives`. A step `per_family` runs once per family of modeling.families (with `family=`), and gives
    {family: output}. `timed_as` is its key in the summary's seconds ("{family}" filled in), None when not
    timed. `dag_tasks` are the burnout_pipeline DAG's tasks that run it."""

    name: str
    run: Callable[..., dict]
    takes: tuple[str, ...]
    gives: str
    dag_tasks: tuple[str, ...]
    timed_as: str | None = None
    per_family: bool = False


STEPS: tuple[Step, ...] = (
    Step("ingest", ingest, ("request",), "raw_data", ("ingest",), timed_as="ingest"),
    Step("prepare_dataset", prepare_dataset, ("request",), "dataset", ("run_etl",), timed_as="etl"),
    Step("choose_budget", choose_budget, ("request",), "budget", ("choose_budget",)),
    Step(
        "train_family",
        train_family,
        ("request", "dataset", "budget"),
        "families",
        ("plan_training", "list_tuning_workers", "tune", "train"),
        timed_as="train_{family}",
        per_family=True,
    ),
    Step(
        "train_ensemble",
        train_ensemble,
        ("request", "dataset"),
        "ensemble",
        ("train_ensemble",),
        timed_as="train_ensemble",
    ),
    Step("promote", promote, ("request",), "promotion", ("promote",), timed_as="promote"),
    Step("reload_api", reload_api, (), "api_reload", ("notify_api",)),
    Step(
        "summarize",
        summarize,
        ("dataset", "families", "ensemble", "promotion", "api_reload", "seconds", "started_at"),
        "summary",
        ("summarize",),
    ),
)
