"""Strict CSV parsing that accounts for every physical line of the input, a chunk of lines at a time.

The rule: one physical line is one record. Lines end at "\\n" (a "\\r" just before it belongs to the line
ending), and a field may not contain a line break, so a quoted field must close on the line where it opens.
After the header (line 1), each line is exactly one of:

- blank (empty): not a record, counted as a blank line;
- a record: as many fields as the header, RFC 4180 quoting within the line (`"a, ""b"" c",d`);
- malformed, quarantined on its own with a reason: a quote that does not close on its line ("unterminated
  quote starting on line N"), a quote inside an unquoted field or text after a closing quote ("stray quote":
  the other lines of a multi-line field look like that), a carriage return inside the line, or a field count
  that differs from the header's.

So an unterminated quote costs exactly its own line, the next line starts a new record, and header + records
+ malformed + blank lines = the file's lines. A malformed line is quarantined with its text as in the file.

Text never becomes a Python object per row or field: each chunk of whole lines is split into Arrow-backed
string columns (pandas "str"); only the rare lines with quotes or a wrong field count go through Python.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.csv_line import MalformedLine, split_line
from etl.errors import InputError
from etl.quarantine import (  # noqa: F401  (LINE, REASON, RECORD, QUARANTINE_COLUMNS: read with the parse)
    LINE,
    QUARANTINE_COLUMNS,
    REASON,
    RECORD,
    RECORD_PROBLEM,
    TEXT,
    concat_quarantine,
    quarantine_frame,
)

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Header:
    names: list[str]
    body_start: int  # byte offset of line 2


@dataclass(frozen=True)
class TextChunk:
    """Consecutive lines of the input. `frame`: one text column per header name, index = line number.
    `malformed`: quarantine rows (line, reason, record) of the lines that are not records. `blank_lines`."""

    frame: pd.DataFrame
    malformed: pd.DataFrame
    blank_lines: int


@dataclass(frozen=True)
class ParsedCsv:
    """A whole input parsed at once (small inputs and tests); see TextChunk for the fields."""

    frame: pd.DataFrame
    malformed: pd.DataFrame
    blank_lines: int = 0

    @property
    def rows(self) -> int:
        return len(self.frame) + len(self.malformed)


def parse_csv(data: bytes, chunk_bytes: int = 1 << 20) -> ParsedCsv:
    """Parse CSV bytes (UTF-8, optional BOM) in one piece; InputError when there is nothing to process."""
    header = read_header(data)
    chunks = list(iter_chunks(data, header, chunk_bytes))
    if not any(len(c.frame) or len(c.malformed) for c in chunks):
        raise InputError("the input has a header but no rows")
    return ParsedCsv(
        frame=pd.concat([c.frame for c in chunks]) if chunks else empty_text_frame(header.names),
        malformed=concat_quarantine([c.malformed for c in chunks]),
        blank_lines=sum(c.blank_lines for c in chunks),
    )


def read_header(data: bytes) -> Header:
    """The header's column names and where the records start; InputError when there is no usable header."""
    if not data or data.isspace():  # isspace, not strip: strip would copy a large input
        raise InputError("the input is empty: expected a CSV header and at least one row")
    start = len(BOM) if data.startswith(BOM) else 0
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    line = _decode(data[start:end], start).removesuffix("\r")
    try:
        names = [name.strip() for name in split_line(line)]
    except MalformedLine as exc:
        raise InputError(f"the input's first line is not a CSV header: {exc}") from None
    if not any(names):
        raise InputError("the input's first line is not a CSV header")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InputError(f"the header repeats column(s) {duplicates}")
    return Header(names=names, body_start=min(end + 1, len(data)))


def iter_chunks(data: bytes, header: Header, chunk_bytes: int) -> Iterator[TextChunk]:
    """Parse the records after the header, about `chunk_bytes` of whole lines at a time."""
    start, first_line = header.body_start, 2
    while start < len(data):
        end = data.find(b"\n", start + chunk_bytes)
        end = len(data) if end < 0 else end + 1
        text = _decode(data[start:end], start)
        chunk = parse_lines(text, first_line, header.names)
        first_line += len(chunk.frame) + len(chunk.malformed) + chunk.blank_lines
        start = end
        yield chunk


def parse_range(raw: bytes, offset: int, first_line: int, names: list[str]) -> TextChunk:
    """Parse whole lines of UTF-8 bytes found at byte `offset` of the input, numbered from `first_line`."""
    return parse_lines(_decode(raw, offset), first_line, names)


def parse_lines(text: str, first_line: int, names: list[str]) -> TextChunk:
    """Parse whole lines of text (the last one may lack its "\\n") numbered from `first_line`."""
    lines = pc.split_pattern(pa.array([text]), "\n").values
    if text.endswith("\n"):
        lines = lines.slice(0, len(lines) - 1)  # what follows the last "\n" is not a line
    lines = pc.replace_substring_regex(lines, "\r$", "", max_replacements=1)
    _refuse_huge_fields(lines, first_line)
    numbers = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    blank = _to_numpy(pc.equal(pc.binary_length(lines), 0))
    plain = ~_to_numpy(pc.match_substring_regex(lines, '["\r]'))
    width = _to_numpy(pc.count_substring(lines, ",")) + 1
    simple = ~blank & plain & (width == len(names))
    frame = _split_simple(lines.filter(pa.array(simple)), numbers[simple], names)

    # The other lines are rare (quotes, a wrong field count): one at a time, in Python.
    records, record_lines, bad, reasons = [], [], [], []
    for index in np.flatnonzero(~blank & ~simple):
        try:
            values = split_line(lines[index].as_py(), line_number=int(numbers[index]))
        except MalformedLine as exc:
            bad.append(index)
            reasons.append(f"{RECORD_PROBLEM}: {exc}")
            continue
        if len(values) == len(names):
            records.append(values)
            record_lines.append(numbers[index])
        else:
            bad.append(index)
            reasons.append(field_count_reason(len(values), len(names)))
    if records:
        quoted = pd.DataFrame(records, columns=names, index=pd.Index(record_lines, name=LINE), dtype=TEXT)
        frame = pd.concat([frame, quoted]).sort_index(kind="stable")
    bad = np.asarray(bad, dtype=np.int64)
    malformed = quarantine_frame(numbers[bad], reasons, pd.array(lines.take(pa.array(bad)), dtype=TEXT))
    return TextChunk(frame=frame, malformed=malformed, blank_lines=int(blank.sum()))


def field_count_reason(fields: int, expected: int) -> str:
    return f"{RECORD_PROBLEM}: has {fields} fields, expected {expected} as in the header"


def empty_text_frame(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {n: pd.array([], dtype=TEXT) for n in names}, index=pd.Index([], name=LINE, dtype="int64")
    )


def _split_simple(lines: pa.Array, numbers: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Lines without quotes and with the header's field count: split on commas, column by column."""
    if not len(lines):
        return empty_text_frame(names)
    lists = pc.split_pattern(lines, ",")
    columns = {name: pd.array(pc.list_element(lists, i), dtype=TEXT) for i, name in enumerate(names)}
    return pd.DataFrame(columns, index=pd.Index(numbers, name=LINE))


def _refuse_huge_fields(lines: pa.Array, first_line: int) -> None:
    """Keep csv's field size limit: a field that large is not a record of this dataset but a broken file."""
    limit = csv.field_size_limit()
    for index in np.flatnonzero(_to_numpy(pc.greater(pc.binary_length(lines), limit))):
        if any(len(field) > limit for field in lines[index].as_py().split(",")):
            raise InputError(
                f"the input is not valid CSV near line {first_line + index}: "
                f"field larger than field limit ({limit})"
            )


def _to_numpy(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _decode(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the input is not UTF-8 text (invalid byte at offset {offset + exc.start})"
        ) from None
