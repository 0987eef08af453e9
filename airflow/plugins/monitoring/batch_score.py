"""Batch scoring: a CSV or Parquet file (a local path, a file:// or s3:// URI, or the raw object in the lake)
scored with the model behind an alias (the champion by default), on the service's own fast scoring path, in
bounded memory and spread over as many processes as there are partitions.

Three steps, the same from the `batch_score` DAG (one mapped task per partition, on any Celery worker) and
from `burnout score` (all in one process, one partition after the other):
1. `plan_scoring`: one streaming pass over the input finds its partitions (monitoring.score_partitions) and
   resolves the alias to one model version, so every partition is scored by the same version even if the
   alias moves meanwhile. A missing or unreadable input, or one without the model's columns, fails here.
2. `score_partition`: reads only its byte range or row groups, a few MB at a time, and writes its part of the
   predictions and of the quarantine (monitoring.score_output); returns its counts and the host that ran it.
3. `finish_scoring`: the books over all partitions (monitoring.score_accounting) and the MLflow run.

Every row is accounted for: it is either scored or quarantined with its reasons (rows_in = rows_scored +
rows_quarantined). The predictions hold the id column when the input has one, the line, the class, the
probability of each class and the model version.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etl.contract import CLASSES
from etl.errors import InputError
from etl.input_file import locate_input
from etl.quarantine import LINE, concat_quarantine
from modeling.registry_names import CHAMPION
from modeling.scoring import Scorer
from monitoring.prediction_log import MODEL_VERSION, PREDICTED_CLASS, PROBABILITY_COLUMNS
from monitoring.score_accounting import check_accounts, log_scoring_run
from monitoring.score_input import ID_COLUMN, ScoringChunk, iter_partition_chunks
from monitoring.score_output import (
    clear_parts,
    default_output_uri,
    part_uri,
    quarantine_uri_of,
    same_location,
    table_format,
    write_table,
)
from monitoring.score_partitions import plan_partitions

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def score_file(
    settings: Settings,
    input: str | None,
    output: str | None = None,
    alias: str = CHAMPION,
    partition_bytes: int | None = None,
) -> dict[str, Any]:
    """Score `input` (None: the raw object in the lake) with `models:/<name>@<alias>` in this process, one
    partition after the other, and write the predictions to `output` (None: beside the input); returns the
    run's summary."""
    plan = plan_scoring(settings, input, output, alias, partition_bytes)
    scorer = load_scorer(settings, plan["model"])  # once for all partitions
    results = [score_partition(settings, plan, partition, scorer) for partition in plan["partitions"]]
    return finish_scoring(settings, plan, results)


def plan_scoring(
    settings: Settings,
    input: str | None,
    output: str | None = None,
    alias: str = CHAMPION,
    partition_bytes: int | None = None,
) -> dict[str, Any]:
    """Check the input and the output, find the partitions and the model version; returns the plan (small
    and JSON-able: it travels between Airflow tasks). Parts an earlier run left in the output are removed."""
    started = time.monotonic()
    file = locate_input(settings, input or None)
    output = output or default_output_uri(file.uri)
    table_format(output)
    if same_location(output, file.uri):
        raise InputError(f"the output {output} would overwrite the input")
    quarantine = quarantine_uri_of(output)
    plan = plan_partitions(file, partition_bytes or settings.score_partition_bytes)
    model = resolve_scoring_model(settings, alias)
    for dataset in (output, quarantine):
        clear_parts(settings, dataset)
    return {
        "input": file.uri,
        "size": file.size,
        "output": output,
        "quarantine": quarantine,
        "model": model,
        "planned_at": time.time(),
        "plan_seconds": round(time.monotonic() - started, 3),
        **plan,
    }


def score_partition(
    settings: Settings, plan: dict[str, Any], partition: dict[str, Any], scorer: Scorer | None = None
) -> dict[str, Any]:
    """Score one partition of the plan and write its parts; returns its counts and the host that scored it."""
    started = time.monotonic()
    file = locate_input(settings, plan["input"])
    if file.size != plan["size"]:
        raise InputError(f"{file.uri} changed since it was planned: {file.size} bytes, not {plan['size']}")
    scorer = scorer or load_scorer(settings, plan["model"])
    version = plan["model"]["model_version"]
    predictions, quarantine, problems, blank_lines = [], [], Counter(), 0
    for chunk in iter_partition_chunks(file, plan, partition):
        predictions.append(score_chunk(scorer, chunk, version))
        quarantine.append(chunk.quarantine)
        problems.update(chunk.problems)
        blank_lines += chunk.blank_lines
    scored = pd.concat(predictions, ignore_index=True)
    quarantined = concat_quarantine(quarantine)
    write_table(settings, part_uri(plan["output"], partition["index"]), scored)
    write_table(settings, part_uri(plan["quarantine"], partition["index"]), quarantined)
    result = {
        "index": partition["index"],
        "name": partition["name"],
        "lines": partition["lines"],
        "rows_scored": len(scored),
        "rows_quarantined": len(quarantined),
        "blank_lines": blank_lines,
        "problems": dict(problems),
        "predicted": {label: int(n) for label, n in scored[PREDICTED_CLASS].value_counts().items()},
        "fast_path": scorer.fast is not None,
        "host": socket.gethostname(),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info(
        "%s on %s: %d scored, %d quarantined", result["name"], result["host"], len(scored), len(quarantined)
    )
    return result


def finish_scoring(settings: Settings, plan: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Check the books over all partitions (RuntimeError when they do not balance), log the run to MLflow;
    returns the run's summary."""
    summary = check_accounts(plan, results)
    summary["seconds"] = round(time.time() - plan["planned_at"] + plan["plan_seconds"], 3)
    summary["mlflow_run_id"] = log_scoring_run(settings, summary)
    log.info(
        "scored %d of %d rows with version %s (%d quarantined) in %d partition(s) on %s, %.2fs",
        summary["rows_scored"],
        summary["rows_in"],
        summary["model_version"],
        summary["rows_quarantined"],
        len(results),
        ", ".join(summary["hosts"]),
        summary["seconds"],
    )
    return summary


def score_chunk(scorer: Scorer, chunk: ScoringChunk, model_version: int) -> pd.DataFrame:
    """The prediction rows of a chunk's valid rows."""
    if len(chunk.lines):
        labels, probabilities = scorer.predict(chunk.numeric, chunk.categorical)
    else:
        labels, probabilities = [], np.empty((0, len(CLASSES)))
    columns: dict[str, object] = {}
    if chunk.ids is not None:
        columns[ID_COLUMN] = pd.array(chunk.ids, dtype="str")
    columns[LINE] = chunk.lines
    columns[PREDICTED_CLASS] = pd.array(labels, dtype="str")
    for position, name in enumerate(PROBABILITY_COLUMNS):
        columns[name] = probabilities[:, position]
    columns[MODEL_VERSION] = np.full(len(chunk.lines), model_version, dtype=np.int64)
    return pd.DataFrame(columns)


def resolve_scoring_model(settings: Settings, alias: str = CHAMPION) -> dict[str, Any]:
    """What the registry says about the version behind `alias` (InputError when no version has it)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import describe_version

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    name = settings.registered_model_name
    try:
        version = client.get_model_version_by_alias(name, alias).version
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise
        raise InputError(f"no version of {name} has alias {alias!r}: train and promote one first") from None
    return {"name": name, "alias": alias, **describe_version(client, name, version)}


def load_scorer(settings: Settings, model: dict[str, Any]) -> Scorer:
    """The scorer of the version `model` names (from resolve_scoring_model)."""
    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import load_model

    configure_mlflow(settings)
    return Scorer(load_model(f"models:/{model['name']}/{model['model_version']}"))
