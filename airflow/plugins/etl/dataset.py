"""Reading published dataset versions back: what training, promotion and tests consume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from sklearn.compose import ColumnTransformer

from etl.errors import InputError
from etl.lake import lake_from_settings
from etl.preprocess import load_preprocessor
from etl.publish import FILES, VERSION_PATTERN, list_manifests, parquet_to_frame, read_manifest, version_key
from etl.split import LABEL

if TYPE_CHECKING:
    from burnout_base.settings import Settings


@dataclass(frozen=True)
class ProcessedDataset:
    """One published version. X_* are preprocessed features, y_* the class labels, *_raw the cleaned raw
    FEATURES columns of the same rows (same index: the record's line in the input)."""

    version: str
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    train_raw: pd.DataFrame
    test_raw: pd.DataFrame
    preprocessor: ColumnTransformer
    manifest: dict


def latest_version(settings: Settings) -> str | None:
    """The most recently published version in the processed bucket, or None when there is none."""
    manifests = list_manifests(lake_from_settings(settings), settings.processed_bucket)
    return manifests[-1]["dataset_version"] if manifests else None


def load_dataset(settings: Settings, version: str | None = None) -> ProcessedDataset:
    """Load a published version (default: the latest); InputError when it does not exist."""
    lake = lake_from_settings(settings)
    bucket = settings.processed_bucket
    if version is None:
        version = latest_version(settings)
        if version is None:
            raise InputError(f"no dataset published in {lake.uri(bucket)}: run `burnout etl` first")
    manifest = read_manifest(lake, bucket, version) if VERSION_PATTERN.fullmatch(version) else None
    if manifest is None:
        raise InputError(f"dataset version {version!r} is not published in {lake.uri(bucket)}")

    def frame(name: str) -> pd.DataFrame:
        return parquet_to_frame(lake.read_bytes(bucket, version_key(version, FILES[name])))

    return ProcessedDataset(
        version=version,
        X_train=frame("X_train"),
        X_test=frame("X_test"),
        y_train=frame("y_train")[LABEL],
        y_test=frame("y_test")[LABEL],
        train_raw=frame("train_raw"),
        test_raw=frame("test_raw"),
        preprocessor=load_preprocessor(lake.read_bytes(bucket, version_key(version, FILES["preprocessor"]))),
        manifest=manifest,
    )
