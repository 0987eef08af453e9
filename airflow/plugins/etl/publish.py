"""Publishing a dataset version: `<version>/` in the processed bucket, data files first and `manifest.json`
last, so a version exists for readers exactly when its manifest does. The version is a content hash of the
input bytes and of the parameters that change the output, so the same input is never published twice.

An input that leaves nothing to publish as a dataset (every row quarantined or dropped) still has its
quarantine published, alone, under `quarantine/<version>/` (quarantine file first, manifest last): outside the
version folders, so readers of dataset versions never mistake it for one."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re

import pandas as pd

from etl.lake import Lake

log = logging.getLogger(__name__)

# Bump when a code change alters what the ETL publishes for the same input and parameters.
# 2: strict line-by-line CSV parsing, blank lines counted, the preprocessor fitted on at most
# preprocess.FIT_MAX_ROWS rows, the quarantine published when nothing is kept.
ETL_VERSION = 2
MANIFEST = "manifest.json"
VERSION_PATTERN = re.compile(r"[0-9a-f]{16}")
QUARANTINE_PREFIX = "quarantine"
# Logical name -> file name inside the version folder.
FILES = {
    "X_train": "X_train.parquet",
    "X_test": "X_test.parquet",
    "y_train": "y_train.parquet",
    "y_test": "y_test.parquet",
    "train_raw": "train_raw.parquet",
    "test_raw": "test_raw.parquet",
    "quarantine": "quarantine.parquet",
    "preprocessor": "preprocessor.skops",
}


def compute_dataset_version(data: bytes, params: dict) -> str:
    """A short content hash of the input bytes and the output-changing parameters."""
    digest = hashlib.sha256(data)
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def version_key(version: str, name: str) -> str:
    return f"{version}/{name}"


def read_manifest(lake: Lake, bucket: str, version: str) -> dict | None:
    """The manifest of a published version, or None when the version is not (completely) published."""
    try:
        return json.loads(lake.read_bytes(bucket, version_key(version, MANIFEST)))
    except FileNotFoundError:
        return None


def list_manifests(lake: Lake, bucket: str) -> list[dict]:
    """Manifests of every published version, oldest first."""
    keys = [
        key
        for key in lake.list_keys(bucket)
        if key.count("/") == 1
        and key.endswith(f"/{MANIFEST}")
        and VERSION_PATTERN.fullmatch(key.split("/")[0])
    ]
    manifests = [json.loads(lake.read_bytes(bucket, key)) for key in keys]
    return sorted(manifests, key=lambda m: (m["created_at"], m["dataset_version"]))


def publish_dataset(lake: Lake, bucket: str, version: str, files: dict[str, bytes], manifest: dict) -> str:
    """Write `files` (logical name -> bytes) under `<version>/`, then the manifest; return the folder URI."""
    unknown = set(files) - set(FILES)
    if unknown:
        raise ValueError(f"unknown dataset files {sorted(unknown)}")
    for name, data in files.items():
        lake.write_bytes(bucket, version_key(version, FILES[name]), data)
    # Last: until this write lands, readers cannot see the version at all.
    lake.write_bytes(bucket, version_key(version, MANIFEST), json.dumps(manifest, indent=2).encode())
    uri = lake.uri(bucket, f"{version}/")
    log.info("published dataset %s to %s", version, uri)
    return uri


def publish_quarantine(lake: Lake, bucket: str, version: str, quarantine: bytes, manifest: dict) -> str:
    """Write the quarantine of an input that yields no dataset under `quarantine/<version>/`, then its
    manifest; return the quarantine file's URI. An identical earlier publication is left as it is."""
    folder = f"{QUARANTINE_PREFIX}/{version}"
    uri = lake.uri(bucket, f"{folder}/{FILES['quarantine']}")
    if lake.exists(bucket, f"{folder}/{MANIFEST}"):
        return uri
    lake.write_bytes(bucket, f"{folder}/{FILES['quarantine']}", quarantine)
    lake.write_bytes(bucket, f"{folder}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
    log.info("nothing to publish as a dataset; published the quarantine of %s to %s", version, uri)
    return uri


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    """The bytes `frame.to_parquet(index=True)` writes, converted on this thread: Arrow's allocator keeps
    the pages each thread frees, so conversion threads would keep a copy's worth of memory each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=True, nthreads=1), buffer)
    return buffer.getvalue()


def parquet_to_frame(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))
