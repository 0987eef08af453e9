"""Labelled records: live predictions whose outcome (the observed Burn Rate) came back later, written by the
model_quality job to the raw bucket as new CSV files under `labelled/`, so that the next ETL on the default
input (the lake's raw object) publishes a new dataset version that includes them.

Writing: `write_labelled_records` writes a frame's rows in the raw dataset's exact column order (the
contract's RAW_COLUMNS; contract columns the frame lacks are written empty), to a new key that sorts after
every earlier one (`labelled/quality-<UTC timestamp>-<random>.csv`), never over an existing object.

Reading: `read_etl_input` gives the ETL its input. An explicit input (a path, a file:// or s3:// URI) is that
file alone, as before. The default input is the raw object's bytes followed by the records of every labelled
file, in key order. Why bytes: the parser, the contract validation, the quarantine and the content hash all
work on one CSV's bytes, so appending the labelled records to the raw object's (one header, their lines after
its lines) is the smallest change that makes all of them apply to labelled rows like to any other, and makes
the version follow the labelled files: a new file is new bytes, so a new version; no new file, the same bytes,
so the published version is reused. With no labelled file the input is the raw object's bytes unchanged, so
its version is what it was. The labelled files are small next to the raw object (22,750 rows), so the one
copy the concatenation makes is about the raw object's size, and it lives only until parsing starts.

Line numbers: the quarantine names a bad row by its line in that combined input; `parts` (in the manifest's
`input.labelled`) says which lines came from which labelled file: a labelled file's line n (n >= 2, after its
header) is line n + line_offset of the combined input.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from etl.contract import FEATURES, RAW_COLUMNS, TARGET
from etl.csv_line import MalformedLine, split_line
from etl.errors import InputError
from etl.ingest import read_input
from etl.lake import Lake, lake_from_settings
from etl.parse_csv import read_header
from etl.quarantine import format_record

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)

LABELLED_PREFIX = "labelled/"
LABELLED_SUFFIX = ".csv"
_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class EtlInput:
    """The ETL's input: its bytes, the URI naming it, and (default input only) the labelled files appended to
    the raw object, each as {"uri", "sha256", "bytes", "first_line", "last_line", "line_offset"}."""

    data: bytes
    uri: str
    labelled: list[dict] = field(default_factory=list)


def write_labelled_records(settings: Settings, frame: pd.DataFrame) -> str:
    """Write `frame`'s rows (the 13 features and Burn Rate in the contract's names, optionally "Employee ID"
    and the contract's other raw columns; columns outside the contract are ignored) as a new CSV in the raw
    bucket under `labelled/`, in the raw dataset's column order, contract columns the frame lacks left empty.
    Never overwrites an object; returns the new object's lake URI. InputError for an empty frame or one that
    lacks a feature or Burn Rate."""
    if frame is None or frame.empty:
        raise InputError("no labelled records to write: the frame is empty")
    missing = [name for name in (*FEATURES, TARGET) if name not in frame.columns]
    if missing:
        raise InputError(f"labelled records lack column(s) {missing}; they have {list(frame.columns)}")
    columns = {
        name: frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        for name in RAW_COLUMNS
    }
    data = pd.DataFrame(columns).to_csv(index=False, lineterminator="\n").encode()
    lake = lake_from_settings(settings)
    bucket = settings.raw_bucket
    for _ in range(_WRITE_ATTEMPTS):
        key = new_labelled_key()
        if not lake.exists(bucket, key):
            uri = lake.write_bytes(bucket, key, data)
            log.info("wrote %d labelled records to %s", len(frame), uri)
            return uri
    raise RuntimeError(f"could not find a free key under {lake.uri(bucket, LABELLED_PREFIX)}")


def new_labelled_key(now: datetime | None = None) -> str:
    """`labelled/quality-<UTC timestamp to the microsecond>-<random>.csv`: later files sort after earlier."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{LABELLED_PREFIX}quality-{stamp}-{uuid.uuid4().hex[:12]}{LABELLED_SUFFIX}"


def labelled_keys(settings: Settings, lake: Lake | None = None) -> list[str]:
    """The labelled files' keys in the raw bucket, sorted (the order the ETL appends them in)."""
    lake = lake or lake_from_settings(settings)
    keys = lake.list_keys(settings.raw_bucket, prefix=LABELLED_PREFIX)
    return sorted(
        key
        for key in keys
        if key.endswith(LABELLED_SUFFIX)
        and not key.rsplit("/", 1)[-1].startswith(".")
        and key != settings.raw_key
    )


def read_etl_input(settings: Settings, input: str | Path | None) -> EtlInput:
    """The ETL's input (see the module docstring): an explicit `input` alone, or for None the raw object
    followed by the records of every labelled file in key order."""
    data, uri = read_input(settings, input)
    if input is not None:
        return EtlInput(data, uri)
    lake = lake_from_settings(settings)
    keys = labelled_keys(settings, lake)
    if not keys:
        return EtlInput(data, uri)
    names = read_header(data).names
    pieces, parts = [data], []
    lines = _count_lines(data)
    if data and not data.endswith(b"\n"):
        pieces.append(b"\n")  # the raw object's last line ends here: its count of lines is unchanged
    for key in keys:
        file_uri = lake.uri(settings.raw_bucket, key)
        try:
            raw = lake.read_bytes(settings.raw_bucket, key)
        except FileNotFoundError:
            log.warning("labelled file %s vanished while the ETL read it; skipping it", file_uri)
            continue
        body = labelled_body(raw, names, file_uri)
        if not body:
            continue
        if not body.endswith(b"\n"):
            body += b"\n"
        count = body.count(b"\n")
        parts.append(
            {
                "uri": file_uri,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "bytes": len(raw),
                "first_line": lines + 1,
                "last_line": lines + count,
                "line_offset": lines - 1,
            }
        )
        pieces.append(body)
        lines += count
    log.info("the ETL's input: %s and %d labelled file(s) under %s", uri, len(parts), LABELLED_PREFIX)
    combined = b"".join(pieces)
    del pieces, data
    return EtlInput(combined, uri, parts)


def labelled_body(raw: bytes, names: list[str], uri: str) -> bytes:
    """The records of one labelled file (the lines after its header) as lines under the raw header `names`:
    as they are when the file's header is the same, else each record's fields moved to the raw header's
    order (raw columns the file lacks left empty; a line that is not a record kept as it is, one line for
    one line, so that it is quarantined like any malformed line). InputError, naming the file, when it is
    not UTF-8 CSV with a header or has a column the raw object does not."""
    try:
        header = read_header(raw)
        text = raw[header.body_start :].decode("utf-8")
    except InputError as exc:
        raise InputError(f"labelled file {uri}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"labelled file {uri} is not UTF-8 text: {exc}") from None
    if header.names == names:
        return raw[header.body_start :]
    unknown = [name for name in header.names if name not in names]
    if unknown:
        raise InputError(
            f"labelled file {uri} has column(s) {unknown} that the raw dataset has not ({names})"
        )
    position = {name: i for i, name in enumerate(header.names)}
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    out = []
    for line in lines:
        stripped = line.removesuffix("\r")
        if not stripped:
            out.append("")
            continue
        try:
            values = split_line(stripped)
        except MalformedLine:
            out.append(stripped)
            continue
        if len(values) != len(header.names):
            out.append(stripped)
            continue
        out.append(format_record([values[position[n]] if n in position else "" for n in names]))
    return ("\n".join(out) + "\n").encode() if out else b""


def _count_lines(data: bytes) -> int:
    """Physical lines as parse_csv counts them: each "\\n" ends one, and text after the last is one more."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
