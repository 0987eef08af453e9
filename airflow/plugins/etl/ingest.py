"""Getting raw bytes in: ingest the data folder's dataset (or a synthetic one) into the lake's raw bucket, and
read the ETL's input from a local path, a file:// or s3:// URI, or the raw object already in the lake."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.errors import InputError
from etl.input_file import locate_input
from etl.lake import lake_from_settings

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)


def ingest_raw_data(settings: Settings, input: str | None = None) -> dict[str, Any]:
    """Make sure the raw dataset is in the lake: upload the CSV from data_dir if the raw object is missing,
    generating a synthetic dataset under BURNOUT_HOME first when data_dir holds no CSV (data_dir is only
    read). Never overwrites the raw object.
    With an explicit `input` (the ETL reads it directly) there is nothing to ingest."""
    from etl.synthetic import write_synthetic_csv

    if input:
        return {"uri": input, "uploaded": False, "source": input, "generated": False}
    lake = lake_from_settings(settings)
    if lake.exists(settings.raw_bucket, settings.raw_key):
        uri = lake.uri(settings.raw_bucket, settings.raw_key)
        log.info("raw dataset already in the lake at %s", uri)
        return {"uri": uri, "uploaded": False, "source": None, "generated": False}
    source = find_raw_csv(Path(settings.data_dir), settings.raw_key)
    generated = source is None
    if source is None:
        # Under BURNOUT_HOME, never in data_dir: the stack mounts data/ read-only; it is the user's folder.
        source = settings.home / "generated" / settings.raw_key
        log.info("no CSV in %s: generating %d synthetic rows", settings.data_dir, settings.synthetic_rows)
        write_synthetic_csv(source, rows=settings.synthetic_rows, seed=settings.seed)
    result = upload_raw(settings, source)
    return {**result, "source": str(source.resolve()), "generated": generated}


def find_raw_csv(data_dir: Path, preferred_name: str) -> Path | None:
    """The CSV to upload from `data_dir`: the one named like the raw object, else the only one; None if
    there is none, InputError if several leave the choice ambiguous."""
    if (data_dir / preferred_name).is_file():
        return data_dir / preferred_name
    candidates = sorted(data_dir.glob("*.csv")) if data_dir.is_dir() else []
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise InputError(f"{data_dir} holds several CSVs ({names}); name the one to use with BURNOUT_RAW_KEY")
    return candidates[0] if candidates else None


def upload_raw(settings: Settings, path: str | Path) -> dict:
    """Upload the CSV at `path` to raw_bucket/raw_key unless an object is already there.

    Returns {"uri", "uploaded"}; an existing raw object is never overwritten, so re-running is harmless.
    """
    lake = lake_from_settings(settings)
    uri = lake.uri(settings.raw_bucket, settings.raw_key)
    if lake.exists(settings.raw_bucket, settings.raw_key):
        log.info("raw object %s already present; not uploading %s", uri, path)
        return {"uri": uri, "uploaded": False}
    lake.write_bytes(settings.raw_bucket, settings.raw_key, locate_input(settings, path).read_all())
    log.info("uploaded %s to %s", path, uri)
    return {"uri": uri, "uploaded": True}


def read_input(settings: Settings, input: str | Path | None) -> tuple[bytes, str]:
    """Return the input's bytes and a URI naming where they came from (see etl.input_file.locate_input for
    what `input` may be). The whole file: large inputs are better read a range at a time from locate_input."""
    file = locate_input(settings, input)
    return file.read_all(), file.uri
