"""The quarantine table: one row per input line that did not become a valid record, with the line number, a
reason naming the field (or "record" for a line that is not a record at all) and the record's text, so that it
can be fixed and fed in again."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

LINE = "line"
REASON = "reason"
RECORD = "record"
QUARANTINE_COLUMNS = (LINE, REASON, RECORD)
# The reason prefix and problem name for a line that is not a record (as opposed to one field's bad value).
RECORD_PROBLEM = "record"
TEXT = "str"  # pandas' string dtype: Arrow-backed, no Python object per value


def quarantine_frame(lines, reasons, records) -> pd.DataFrame:
    """Quarantine rows (line, reason, record) in their published types."""
    return pd.DataFrame(
        {
            LINE: np.asarray(lines, dtype=np.int64),
            REASON: pd.array(reasons, dtype=TEXT),
            RECORD: pd.array(records, dtype=TEXT),
        }
    )


def concat_quarantine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Quarantine parts, each in line order and given in file order, as one frame."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else quarantine_frame([], [], [])


def format_record(fields) -> str:
    """One record's fields back as a CSV line."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()
