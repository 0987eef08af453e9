"""What an ETL run tells MLflow (experiment settings.etl_experiment): its parameters, row counts, class
balance, per-feature statistics of TRAIN, the dataset_version tag, and the manifest and quarantine files.

It uses an explicit MlflowClient and run id rather than MLflow's global active run, so calling the ETL from
inside another run (the pipeline, a DAG task) neither nests nor closes that run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from burnout_base.settings import Settings


@contextmanager
def etl_run(settings: Settings, dataset_version: str) -> Iterator[str]:
    """Open an MLflow run for one ETL publication; yield its id; close it FINISHED, or FAILED on error."""
    from mlflow import MlflowClient

    from burnout_base.tracking import ensure_experiment

    experiment_id = ensure_experiment(settings, settings.etl_experiment)
    client = MlflowClient()
    run = client.create_run(
        experiment_id, run_name=f"etl-{dataset_version}", tags={"dataset_version": dataset_version}
    )
    run_id = run.info.run_id
    try:
        yield run_id
    except BaseException:
        # Never let a tracking hiccup here hide the error that actually stopped the ETL.
        with suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


def log_etl_details(run_id: str, manifest: dict, quarantine: pd.DataFrame) -> None:
    """Log the manifest's parameters, counts and feature statistics, and the manifest and quarantine files."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient()
    now = int(time.time() * 1000)
    params = {
        **manifest["params"],
        "dataset_version": manifest["dataset_version"],
        "input_uri": manifest["input"]["uri"],
        "input_sha256": manifest["input"]["sha256"],
        "extra_columns_ignored": ",".join(manifest["extra_columns_ignored"]) or "none",
    }
    metrics = collect_metrics(manifest)
    tags = {
        "input_uri": manifest["input"]["uri"],
        "published_to": manifest["published_to"],
        "mlflow.note.content": describe_etl_run(manifest),
    }
    client.log_batch(
        run_id,
        metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
        params=[Param(key, str(value)[:6000]) for key, value in params.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    client.log_dict(run_id, manifest, "manifest.json")
    if len(quarantine):
        client.log_text(run_id, quarantine.to_csv(index=False), "quarantine.csv")


def describe_etl_run(manifest: dict) -> str:
    """The run description: what was read, what was published where, and how many rows each step kept."""
    counts, version = manifest["counts"], manifest["dataset_version"]
    return (
        f"Published dataset version `{version}` from `{manifest['input']['uri']}` to "
        f"`{manifest['published_to']}`: {counts['rows_in']} rows read, "
        f"{counts['rows_quarantined']} quarantined, {counts['rows_kept']} kept, "
        f"split into {counts['train_rows']} TRAIN and {counts['test_rows']} TEST rows."
    )


def collect_metrics(manifest: dict) -> dict[str, float]:
    """Flatten counts, class balance and TRAIN feature statistics into MLflow metric names."""
    counts = manifest["counts"]
    metrics: dict[str, float] = {
        "rows_in": counts["rows_in"],
        "rows_quarantined": counts["rows_quarantined"],
        "rows_kept": counts["rows_kept"],
        "train_rows": counts["train_rows"],
        "test_rows": counts["test_rows"],
    }
    metrics.update({f"rows_dropped_{reason}": n for reason, n in counts["rows_dropped"].items()})
    for split, balance in manifest["class_balance"].items():
        total = sum(balance.values()) or 1
        metrics.update({f"class_share_{split}_{label.lower()}": n / total for label, n in balance.items()})
    for feature, stats in manifest["feature_stats"]["train"].items():
        prefix = f"train_{_slug(feature)}"
        for stat, value in stats.items():
            if stat == "shares":
                metrics.update({f"{prefix}_share_{_slug(c)}": share for c, share in value.items()})
            elif value is not None:
                metrics[f"{prefix}_{stat}"] = value
    return {key: float(value) for key, value in metrics.items()}


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
