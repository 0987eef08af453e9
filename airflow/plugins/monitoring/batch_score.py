"""Batch scoring: a whole CSV or Parquet file (a local path, a file:// or s3:// URI, or the raw object in the
lake) scored with the model behind an alias (the champion by default), on the service's own fast scoring path.

Every row is accounted for: it is either scored or quarantined with its reasons (rows_in = rows_scored +
rows_quarantined). The predictions (the id column when the input has one, the line, the class, the probability
of each class, the model version) go to the output, Parquet or CSV by its extension, by default beside the
input; the quarantine (line, reason, record) goes beside the output. The counts and the model version are
logged as a run of the MLflow experiment `settings.scoring_experiment`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etl.contract import CLASSES
from etl.errors import InputError
from etl.ingest import read_input
from etl.quarantine import LINE, concat_quarantine
from modeling.registry_names import CHAMPION
from modeling.scoring import Scorer
from monitoring.prediction_log import MODEL_VERSION, PREDICTED_CLASS, PROBABILITY_COLUMNS
from monitoring.score_input import ID_COLUMN, ScoringChunk, iter_scoring_chunks
from monitoring.score_output import (
    default_output_uri,
    quarantine_uri_of,
    same_location,
    table_format,
    write_table,
)

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def score_file(
    settings: Settings, input: str | None, output: str | None = None, alias: str = CHAMPION
) -> dict[str, Any]:
    """Score `input` (None: the raw object in the lake) with `models:/<name>@<alias>` and write the
    predictions to `output` (None: beside the input); returns the run's summary."""
    started = time.monotonic()
    data, source = read_input(settings, input or None)
    output = output or default_output_uri(source)
    table_format(output)
    if same_location(output, source):
        raise InputError(f"the output {output} would overwrite the input")
    quarantine_uri = quarantine_uri_of(output)
    chunks = iter_scoring_chunks(data)  # the columns are checked here, before the model is loaded
    scorer, model = load_scoring_model(settings, alias)
    loaded = time.monotonic()

    predictions, quarantine, problems, blank_lines = [], [], Counter(), 0
    for chunk in chunks:
        predictions.append(score_chunk(scorer, chunk, model["model_version"]))
        quarantine.append(chunk.quarantine)
        problems.update(chunk.problems)
        blank_lines += chunk.blank_lines
    scored = pd.concat(predictions, ignore_index=True)
    quarantined = concat_quarantine(quarantine)
    if not len(scored) + len(quarantined):
        raise InputError("the input has no rows to score")
    scoring_done = time.monotonic()
    write_table(settings, output, scored)
    write_table(settings, quarantine_uri, quarantined)

    summary = {
        "input": source,
        "output": output,
        "quarantine": quarantine_uri,
        "model": model,
        "model_version": model["model_version"],
        "fast_path": scorer.fast is not None,
        "rows_in": len(scored) + len(quarantined),
        "rows_scored": len(scored),
        "rows_quarantined": len(quarantined),
        "blank_lines": blank_lines,
        "problems": dict(problems),
        "predicted": {label: int(n) for label, n in scored[PREDICTED_CLASS].value_counts().items()},
        "seconds": round(time.monotonic() - started, 3),
        "seconds_by_step": {
            "read_and_load_model": round(loaded - started, 3),
            "validate_and_score": round(scoring_done - loaded, 3),
            "write": round(time.monotonic() - scoring_done, 3),
        },
    }
    summary["mlflow_run_id"] = log_scoring_run(settings, summary)
    log.info(
        "scored %d of %d rows with version %s (%d quarantined) in %.2fs",
        summary["rows_scored"],
        summary["rows_in"],
        summary["model_version"],
        summary["rows_quarantined"],
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


def load_scoring_model(settings: Settings, alias: str = CHAMPION) -> tuple[Scorer, dict[str, Any]]:
    """The scorer of the version behind `alias`, and what the registry says about that version."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow
    from modeling.model_io import describe_version, load_model

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    name = settings.registered_model_name
    try:
        version = client.get_model_version_by_alias(name, alias).version
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise
        raise InputError(f"no version of {name} has alias {alias!r}: train and promote one first") from None
    described = describe_version(client, name, version)
    scorer = Scorer(load_model(f"models:/{name}/{version}"))
    return scorer, {"name": name, "alias": alias, **described}


def log_scoring_run(settings: Settings, summary: dict[str, Any]) -> str:
    """Record a scoring run (what was scored, by which version, the counts) in MLflow; returns its id."""
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
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in counts.items()],
        params=[Param(key, str(summary[key])) for key in ("input", "output", "quarantine")],
        tags=[
            RunTag("fast_path", str(summary["fast_path"])),
            RunTag(NOTE_TAG, describe_scoring_run(summary)),
        ],
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def describe_scoring_run(summary: dict[str, Any]) -> str:
    """The run description: which file, by which model version, how many rows were scored, and where to."""
    model = summary["model"]
    return (
        f"Scored `{summary['input']}` with `{model['name']}`@{model['alias']} (v{model['model_version']}, "
        f"{model['family']}, trained on dataset `{model['dataset_version']}`): {summary['rows_scored']} of "
        f"{summary['rows_in']} rows scored, {summary['rows_quarantined']} quarantined; predictions in "
        f"`{summary['output']}`."
    )
