"""The ETL job: read the input, validate, clean, split, fit the preprocessor on TRAIN, publish a versioned
dataset and log it to MLflow. One call, one JSON-able summary; the same function runs from the CLI, a DAG and
tests. Every input row is accounted for: rows_in == rows_kept + sum(rows_dropped) + rows_quarantined."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from etl.clean import Cleaned, clean_records
from etl.contract import BY_NAME, CLASSES, FEATURES, TARGET
from etl.describe import describe_features
from etl.errors import InputError
from etl.ingest import read_input
from etl.lake import lake_from_settings
from etl.mlflow_logging import etl_run, log_etl_details
from etl.parse_csv import LINE, REASON, parse_csv
from etl.preprocess import dump_preprocessor, fit_preprocessor, transform_features
from etl.publish import (
    ETL_VERSION,
    FILES,
    compute_dataset_version,
    frame_to_parquet,
    publish_dataset,
    read_manifest,
)
from etl.split import LABEL, count_classes, label_classes, split_train_test
from etl.validate import Validation, validate_records

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def run_etl(input: str | Path | None, settings: Settings) -> dict:
    """Publish the dataset version of `input`: a local path, a file:// or s3:// URI, or None for the lake's
    raw object. When that version is already published, nothing is recomputed or rewritten and the summary
    says reused=True.
    """
    started = time.monotonic()
    settings.ensure_home()
    data, source = read_input(settings, input)
    params = {"seed": settings.seed, "test_size": settings.test_size, "etl_version": ETL_VERSION}
    version = compute_dataset_version(data, params)
    lake = lake_from_settings(settings)
    existing = read_manifest(lake, settings.processed_bucket, version)
    if existing is not None:
        log.info("dataset %s already published from identical input; reusing it", version)
        return summarize(existing, reused=True)

    parsed = parse_csv(data)
    validation = validate_records(parsed)
    cleaned = clean_records(validation.valid)
    try:
        train, test = split_train_test(cleaned.frame, settings.test_size, settings.seed)
    except InputError as exc:  # say why so few rows were left, since nothing gets published
        first = validation.quarantine[REASON].head(3).tolist()
        raise InputError(
            f"{exc} ({parsed.rows} rows in, {len(validation.quarantine)} quarantined by field "
            f"{validation.problems}, dropped {cleaned.dropped}; first reasons: {first})"
        ) from None
    preprocessor = fit_preprocessor(train, settings.seed)
    X_train, X_test = transform_features(preprocessor, train), transform_features(preprocessor, test)
    y_train, y_test = label_classes(train[TARGET]), label_classes(test[TARGET])

    manifest = {
        "dataset_version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "params": params,
        "input": {"uri": source, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
        "published_to": lake.uri(settings.processed_bucket, f"{version}/"),
        "counts": count_rows(parsed.rows, validation, cleaned, len(train), len(test)),
        "quarantine_problems": validation.problems,
        "extra_columns_ignored": validation.extra_columns,
        "class_balance": {
            "all": count_classes(pd.concat([y_train, y_test])),
            "train": count_classes(y_train),
            "test": count_classes(y_test),
        },
        "schema": describe_schema(list(X_train.columns)),
        "feature_stats": {"train": describe_features(train)},
        "files": dict(FILES),
    }
    files = {
        "X_train": frame_to_parquet(X_train),
        "X_test": frame_to_parquet(X_test),
        "y_train": frame_to_parquet(y_train.to_frame()),
        "y_test": frame_to_parquet(y_test.to_frame()),
        "train_raw": frame_to_parquet(train[list(FEATURES)]),
        "test_raw": frame_to_parquet(test[list(FEATURES)]),
        "quarantine": frame_to_parquet(validation.quarantine),
        "preprocessor": dump_preprocessor(preprocessor),
    }
    with etl_run(settings, version) as run_id:
        manifest["mlflow_run_id"] = run_id
        log_etl_details(run_id, manifest, validation.quarantine)
        publish_dataset(lake, settings.processed_bucket, version, files, manifest)
    log.info("ETL published %s in %.1fs", version, time.monotonic() - started)
    return summarize(manifest, reused=False)


def count_rows(
    rows_in: int, validation: Validation, cleaned: Cleaned, train_rows: int, test_rows: int
) -> dict:
    """Row counts at each step; refuses (as a bug, not bad input) any count that loses rows."""
    counts = {
        "rows_in": rows_in,
        "rows_quarantined": len(validation.quarantine),
        "rows_dropped": cleaned.dropped,
        "rows_kept": len(cleaned.frame),
        "train_rows": train_rows,
        "test_rows": test_rows,
    }
    accounted = counts["rows_kept"] + sum(cleaned.dropped.values()) + counts["rows_quarantined"]
    if accounted != rows_in or train_rows + test_rows != counts["rows_kept"]:
        raise AssertionError(f"ETL lost rows: {counts}")
    return counts


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
