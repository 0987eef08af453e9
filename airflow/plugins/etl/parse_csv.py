"""Turning the input's bytes into a table of text, one row per CSV record, without losing any record.

Values stay text here (validation decides what they mean), each row is indexed by its line in the file, and a
record whose field count does not match the header is set aside with a reason instead of breaking the parse.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from etl.errors import InputError

log = logging.getLogger(__name__)

LINE = "line"
REASON = "reason"
RECORD = "record"
QUARANTINE_COLUMNS = (LINE, REASON, RECORD)


@dataclass(frozen=True)
class ParsedCsv:
    """`frame`: one text column per header name, index = the record's line in the file (1 = header).
    `malformed`: records that do not align with the header, as quarantine rows (line, reason, record)."""

    frame: pd.DataFrame
    malformed: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.frame) + len(self.malformed)


def parse_csv(data: bytes) -> ParsedCsv:
    """Parse CSV bytes (UTF-8, optional BOM); InputError when there is nothing to process or no CSV text."""
    if not data.strip():
        raise InputError("the input is empty: expected a CSV header and at least one row")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the input is not UTF-8 text (invalid byte at offset {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
        _check_header(header)
        rows, lines, malformed = [], [], []
        for record in reader:
            if not record:  # a blank line is not a record
                continue
            if len(record) != len(header):
                reason = f"record: has {len(record)} fields, expected {len(header)} as in the header"
                malformed.append((reader.line_num, reason, format_record(record)))
            else:
                rows.append(record)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputError(f"the input is not valid CSV near line {reader.line_num}: {exc}") from None
    if not rows and not malformed:
        raise InputError("the input has a header but no rows")
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name=LINE), dtype=object)
    quarantine = pd.DataFrame(malformed, columns=list(QUARANTINE_COLUMNS))
    if malformed:
        log.warning("%d records do not match the header's %d fields", len(malformed), len(header))
    return ParsedCsv(frame=frame, malformed=quarantine.astype({LINE: "int64"}))


def format_record(fields: list) -> str:
    """One record back as a CSV line, so a quarantined row can be fixed and fed in again."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise InputError("the input's first line is not a CSV header")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise InputError(f"the header repeats column(s) {duplicates}")
