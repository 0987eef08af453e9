"""Where batch scoring writes: the predictions and the quarantine, as Parquet or CSV by the name's extension,
to a local path, a file:// URI or an s3://bucket/key URI; by default beside the input.

Each is a partitioned dataset: the output's name is a folder (an S3 prefix) holding one part per partition of
the input, `part-00000.parquet`, `part-00001.parquet`... (pandas.read_parquet and pyarrow.dataset read the
folder as one table; parts sort in line order)."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import pandas as pd

from etl.errors import InputError
from etl.lake import parse_s3_uri, s3_lake_from_settings

if TYPE_CHECKING:
    from burnout_base.settings import Settings

FORMATS = (".parquet", ".csv")
PREDICTIONS_SUFFIX = ".predictions"
QUARANTINE_SUFFIX = ".quarantine"
PART_PREFIX = "part-"


def default_output_uri(source_uri: str) -> str:
    """Beside the input: `<input name without extension>.predictions.parquet`."""
    head, _, name = source_uri.rpartition("/")
    stem = PurePosixPath(name).stem or name
    return f"{head}/{stem}{PREDICTIONS_SUFFIX}.parquet"


def quarantine_uri_of(output_uri: str) -> str:
    """Beside the predictions, in their format: `<output name without extension>.quarantine.<extension>`."""
    base, extension = output_uri[: -len(table_format(output_uri))], table_format(output_uri)
    return f"{base}{QUARANTINE_SUFFIX}{extension}"


def table_format(uri: str) -> str:
    """ ".parquet" or ".csv", from the name; InputError for anything else."""
    extension = PurePosixPath(urlparse(uri).path if "://" in uri else uri).suffix.lower()
    if extension not in FORMATS:
        raise InputError(f"the output must end in .parquet or .csv: {uri}")
    return uri[-len(extension) :]  # as spelled, so that derived names keep its case


def same_location(first: str, second: str) -> bool:
    """Whether two locations (paths or URIs) name the same object."""
    return _normalized(first) == _normalized(second)


def part_uri(dataset_uri: str, index: int) -> str:
    """The URI of part `index` of the dataset at `dataset_uri`, in the dataset's format."""
    return f"{dataset_uri.rstrip('/')}/{PART_PREFIX}{index:05d}{table_format(dataset_uri).lower()}"


def clear_parts(settings: Settings, dataset_uri: str) -> int:
    """Remove the parts an earlier run left in the dataset (a run with more partitions would leave extra ones
    a reader would take for this run's); only files named like parts are touched. Returns how many."""
    extension = table_format(dataset_uri).lower()
    if dataset_uri.startswith("s3://"):
        bucket, key = parse_s3_uri(dataset_uri)
        lake = s3_lake_from_settings(settings)
        stale = [k for k in lake.list_keys(bucket, f"{key.rstrip('/')}/") if _is_part(k, extension)]
        for name in stale:
            lake.client.delete_object(Bucket=bucket, Key=name)
        return len(stale)
    folder = _local_path(dataset_uri)
    if folder.is_file():
        raise InputError(f"the output {folder} is a file; batch scoring writes a folder of parts there")
    stale = [path for path in folder.glob(f"{PART_PREFIX}*") if _is_part(path.name, extension)]
    for path in stale:
        path.unlink()
    return len(stale)


def _is_part(name: str, extension: str) -> bool:
    name = name.rpartition("/")[2]
    return name.startswith(PART_PREFIX) and name.endswith(extension)


def write_table(settings: Settings, uri: str, frame: pd.DataFrame) -> str:
    """Write `frame` (without its index) to `uri`; readers never see a partial file. Returns the URI."""
    data = _encode(frame, table_format(uri).lower())
    if uri.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = parse_s3_uri(uri)
        try:
            s3_lake_from_settings(settings).write_bytes(bucket, key, data)
        except (BotoCoreError, ClientError) as exc:
            raise InputError(f"cannot write {uri}: {exc}") from None
        return uri
    path = _local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return uri


def _encode(frame: pd.DataFrame, extension: str) -> bytes:
    if extension == ".csv":
        return frame.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri).expanduser()


def _normalized(location: str) -> str:
    if location.startswith("s3://"):
        return location
    return str(_local_path(location).resolve())
