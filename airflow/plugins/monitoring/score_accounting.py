"""The books of a batch scoring run: every planned partition scored once, and in each one every line of the
file either scored, quarantined or blank, as many as the plan counted (so rows_in = rows_scored +
rows_quarantined, with rows_in known from the plan's line counts before anything was scored); then the run as
a run of the MLflow experiment `settings.scoring_experiment`, with the host that scored each partition."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from etl.contract import CLASSES
from etl.errors import InputError

if TYPE_CHECKING:
    from burnout_base.settings import Settings


class AccountsDoNotBalance(RuntimeError):
    """The partitions' counts do not add up to the plan's: a partition is missing, repeated or lost rows."""


def check_accounts(plan: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary from the plan and the partitions' results; AccountsDoNotBalance if they disagree."""
    planned = {p["index"]: p for p in plan["partitions"]}
    indexes = sorted(r["index"] for r in results)
    if indexes != sorted(planned):
        raise AccountsDoNotBalance(f"partitions scored {indexes}, planned {sorted(planned)}")
    for result in results:
        counted = result["rows_scored"] + result["rows_quarantined"] + result["blank_lines"]
        if counted != planned[result["index"]]["lines"]:
            raise AccountsDoNotBalance(
                f"{result['name']}: {result['rows_scored']} scored + {result['rows_quarantined']} quarantined"
                f" + {result['blank_lines']} blank = {counted} lines, the plan counted "
                f"{planned[result['index']]['lines']}"
            )
    totals = {key: sum(r[key] for r in results) for key in ("rows_scored", "rows_quarantined", "blank_lines")}
    rows_in = plan["lines"] - totals["blank_lines"]
    if rows_in != totals["rows_scored"] + totals["rows_quarantined"]:
        raise AccountsDoNotBalance(f"rows_in {rows_in} != rows_scored + rows_quarantined ({totals})")
    if not rows_in:
        raise InputError(f"the input has no rows to score: {plan['input']}")
    problems, predicted, hosts = Counter(), Counter(), {}
    for result in sorted(results, key=lambda r: r["index"]):
        problems.update(result["problems"])
        predicted.update(result["predicted"])
        hosts.setdefault(result["host"], []).append(result["index"])
    return {
        "input": plan["input"],
        "output": plan["output"],
        "quarantine": plan["quarantine"],
        "model": plan["model"],
        "model_version": plan["model"]["model_version"],
        "fast_path": all(r["fast_path"] for r in results),
        "rows_in": rows_in,
        **totals,
        "problems": dict(problems),
        "predicted": dict(predicted),
        "partitions": len(results),
        "hosts": hosts,
        "seconds_by_partition": {r["name"]: r["seconds"] for r in sorted(results, key=lambda r: r["index"])},
    }


def log_scoring_run(settings: Settings, summary: dict[str, Any]) -> str:
    """Record a scoring run (what was scored, by which version, the counts, which host scored which
    partitions: tag `hosts`) in MLflow; returns its id."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    from burnout_base.tracking import NOTE_TAG, ensure_experiment

    experiment = ensure_experiment(settings, settings.scoring_experiment)
    model = summary["model"]
    client = mlflow.MlflowClient()
    tags = {
        "registered_model": model["name"],
        "alias": model["alias"],
        "model_version": str(model["model_version"]),
        "family": str(model["family"]),
        "model_dataset_version": str(model["dataset_version"]),
    }
    run = client.create_run(experiment, tags=tags, run_name=f"score v{model['model_version']}")
    now = int(time.time() * 1000)
    counts = {key: summary[key] for key in ("rows_in", "rows_scored", "rows_quarantined", "blank_lines")}
    counts.update({f"predicted_{label}": summary["predicted"].get(label, 0) for label in CLASSES})
    counts["seconds"] = summary["seconds"]
    counts["partitions"] = summary["partitions"]
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in counts.items()],
        params=[Param(key, str(summary[key])) for key in ("input", "output", "quarantine")],
        tags=[
            RunTag("fast_path", str(summary["fast_path"])),
            RunTag("hosts", json.dumps(summary["hosts"], separators=(",", ":"))),
            RunTag(NOTE_TAG, describe_scoring_run(summary)),
        ],
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def describe_scoring_run(summary: dict[str, Any]) -> str:
    """The run description: which file, by which model version, how many rows were scored, and where to."""
    model = summary["model"]
    hosts = ", ".join(f"{host} ({len(parts)})" for host, parts in summary["hosts"].items())
    return (
        f"Scored `{summary['input']}` with `{model['name']}`@{model['alias']} (v{model['model_version']}, "
        f"{model['family']}, trained on dataset `{model['dataset_version']}`): {summary['rows_scored']} of "
        f"{summary['rows_in']} rows scored, {summary['rows_quarantined']} quarantined; predictions in "
        f"`{summary['output']}`. {summary['partitions']} partition(s), scored on {hosts}."
    )
