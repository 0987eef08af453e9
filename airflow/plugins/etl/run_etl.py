"""The ETL job: read the input, validate, clean, split, fit the preprocessor on TRAIN, publish a versioned
dataset and log it to MLflow. One call, one JSON-able summary; the same function runs from the CLI, a DAG and
tests. Every input row is accounted for: rows_in == rows_kept + sum(rows_dropped) + rows_quarantined, and so
is every line: 1 (the header) + rows_in + blank_lines (parse_csv says what a row is).

An input that leaves no row to publish still has its quarantine published (publish.publish_quarantine), and
the run fails with an InputError saying where it went.

Memory follows the input's size: the input is parsed and validated in chunks into compact columns, the input's
bytes and the full validated frame are let go as soon as the next step has what it needs, the published files
are serialized one at a time, and the memory each step freed is handed back before the next.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from etl.column_types import contract_types
from etl.contract import BY_NAME, CATEGORICAL_FEATURES, CLASSES, FEATURES, TARGET
from etl.describe import describe_features
from etl.errors import InputError
from etl.labelled import read_etl_input
from etl.lake import Lake, lake_from_settings
from etl.memory import release_freed_memory, system_arrow_allocator
from etl.mlflow_logging import etl_run, log_etl_details
from etl.parse_csv import LINE, TEXT
from etl.prepare import PreparedRows, prepare_rows
from etl.preprocess import dump_preprocessor, fit_preprocessor, select_fit_rows, transform_features
from etl.publish import (
    ETL_VERSION,
    FILES,
    compute_dataset_version,
    frame_to_parquet,
    publish_dataset,
    publish_quarantine,
    read_manifest,
)
from etl.split import LABEL, count_classes, label_classes
from etl.validate import validate_csv

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def run_etl(input: str | Path | None, settings: Settings) -> dict:
    """Publish the dataset version of `input`: a local path, a file:// or s3:// URI, or None for the lake's
    raw object followed by the labelled records under the raw bucket's labelled/ (etl.labelled: a new
    labelled file makes a new version). When that version is already published, nothing is recomputed or
    rewritten and the summary says reused=True.
    """
    started = time.monotonic()
    settings.ensure_home()
    etl_input = read_etl_input(settings, input)
    data, source, labelled = etl_input.data, etl_input.uri, etl_input.labelled
    del etl_input  # `data` is let go after validation: no other reference may keep it
    params = {"seed": settings.seed, "test_size": settings.test_size, "etl_version": ETL_VERSION}
    version = compute_dataset_version(data, params)
    lake = lake_from_settings(settings)
    existing = read_manifest(lake, settings.processed_bucket, version)
    if existing is not None:
        log.info("dataset %s already published from identical input; reusing it", version)
        return summarize(existing, reused=True)

    described_input = {"uri": source, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if labelled:
        described_input["labelled"] = labelled  # which lines of the input came from which labelled file
    with system_arrow_allocator():
        validation = validate_csv(data)
    del data  # the rows are compact columns now: the input's bytes would only add to every later peak
    release_freed_memory()
    rows = prepare_rows(validation, settings)
    del validation  # all rows, typed: train, test and quarantine are what is left to publish
    release_freed_memory()
    manifest = {
        "dataset_version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "params": params,
        "input": described_input,
    }
    if rows.failure is not None:
        uri = publish_quarantine_only(lake, settings, manifest, rows)
        raise InputError(f"{rows.failure}; no dataset was published, the quarantine was published to {uri}")
    publish_rows(lake, settings, manifest, rows)
    log.info("ETL published %s in %.1fs", version, time.monotonic() - started)
    return summarize(manifest, reused=False)


def publish_quarantine_only(lake: Lake, settings: Settings, manifest: dict, rows: PreparedRows) -> str:
    """Publish the quarantine of an input left with no row (its manifest says why); return its URI."""
    manifest.update(dataset_published=False, reason=rows.failure, files={"quarantine": FILES["quarantine"]})
    return publish_quarantine(
        lake,
        settings.processed_bucket,
        manifest["dataset_version"],
        frame_to_parquet(rows.quarantine),
        describe_rows(manifest, rows),
    )


def publish_rows(lake: Lake, settings: Settings, manifest: dict, rows: PreparedRows) -> None:
    """Fit the preprocessor on TRAIN, serialize the dataset's files, complete `manifest`, log the run to
    MLflow and publish the dataset version (files and manifest)."""
    train, test = rows.train, rows.test
    fit_rows = select_fit_rows(train, settings.seed)
    # Categories as text: with pandas' category dtype the one-hot encoder holds more memory while fitting.
    preprocessor = fit_preprocessor(fit_rows.astype(dict.fromkeys(CATEGORICAL_FEATURES, TEXT)), settings.seed)
    release_freed_memory()
    y_train, y_test = label_classes(train[TARGET]), label_classes(test[TARGET])
    files = serialize_files(
        {
            "X_train": lambda: transform_features(preprocessor, train),
            "X_test": lambda: transform_features(preprocessor, test),
            "y_train": y_train.to_frame,
            "y_test": y_test.to_frame,
            "train_raw": lambda: contract_types(train[list(FEATURES)]),
            "test_raw": lambda: contract_types(test[list(FEATURES)]),
            "quarantine": lambda: rows.quarantine,
        }
    )
    files["preprocessor"] = dump_preprocessor(preprocessor)
    version = manifest["dataset_version"]
    describe_rows(manifest, rows)
    manifest.update(
        {
            "published_to": lake.uri(settings.processed_bucket, f"{version}/"),
            "class_balance": {
                "all": count_classes(pd.concat([y_train, y_test])),
                "train": count_classes(y_train),
                "test": count_classes(y_test),
            },
            "schema": describe_schema(list(preprocessor.get_feature_names_out())),
            "feature_stats": {"train": describe_features(train)},
            "preprocessor_fit_rows": len(fit_rows),
            "files": dict(FILES),
        }
    )
    with etl_run(settings, version) as run_id:
        manifest["mlflow_run_id"] = run_id
        log_etl_details(run_id, manifest, rows.quarantine)
        publish_dataset(lake, settings.processed_bucket, version, files, manifest)


def serialize_files(make_frames: dict[str, Callable[[], pd.DataFrame]]) -> dict[str, bytes]:
    """Parquet bytes of each frame, made one at a time and dropped once written (the preprocessed splits are
    the largest), with the memory each step freed handed back before the next."""
    files = {}
    for name, make_frame in make_frames.items():
        frame = make_frame()
        release_freed_memory()  # what making the frame took, before writing it takes more
        files[name] = frame_to_parquet(frame)
        del frame
        release_freed_memory()
    return files


def describe_rows(manifest: dict, rows: PreparedRows) -> dict:
    """Add the rows' counts, quarantine problems and ignored columns to `manifest`; return it."""
    manifest.update(
        counts=rows.counts, quarantine_problems=rows.problems, extra_columns_ignored=rows.extra_columns
    )
    return manifest


def summarize(manifest: dict, reused: bool) -> dict:
    """The ETL's answer, from a manifest (so a reused version reports exactly what was published)."""
    counts = manifest["counts"]
    return {
        "dataset_version": manifest["dataset_version"],
        "input": manifest["input"]["uri"],
        **counts,
        "class_balance": manifest["class_balance"]["all"],
        "extra_columns_ignored": manifest["extra_columns_ignored"],
        "published_to": manifest["published_to"],
        "reused": reused,
        "mlflow_run_id": manifest.get("mlflow_run_id"),
    }


def describe_schema(preprocessed_columns: list[str]) -> dict:
    """The published files' schema: raw feature types, target, label and classes, preprocessed columns."""
    return {
        "index": LINE,
        "raw_features": {name: BY_NAME[name].kind for name in FEATURES},
        "target": TARGET,
        "label": LABEL,
        "classes": list(CLASSES),
        "preprocessed_columns": preprocessed_columns,
    }
