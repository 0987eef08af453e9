"""The partitions of a file to score, found in one streaming pass (the whole file is never in memory).

CSV: line-aligned byte ranges. The ETL's strict parser reads one physical line as one record (a quoted field
may not hold a line break, see etl.parse_csv), so a range that starts after a "\\n" and ends after one parses
exactly as the same lines do in a single pass. Each partition records the line number it starts at (the header
is line 1), so the output's `line` stays the file's own, and how many lines it holds (blank ones included), so
the accounting knows every partition's rows before they are scored.

Parquet: consecutive row groups (read later through the footer and those groups only); `first_line` is the
row number of its first row (the first row is 1).

A partition is about `partition_bytes` (at least that much, but for the last one) and there are at most
MAX_PARTITIONS: a file larger than MAX_PARTITIONS x partition_bytes gets bigger partitions, because each
partition is one mapped Airflow task and a run should not flood the scheduler.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from etl.errors import InputError
from etl.input_file import STREAM_BLOCK_BYTES, InputFile
from etl.parse_csv import read_header
from monitoring.score_input import PARQUET_MAGIC, check_scoring_columns, open_parquet

log = logging.getLogger(__name__)

MAX_PARTITIONS = 64
CSV, PARQUET = "csv", "parquet"


def plan_partitions(file: InputFile, partition_bytes: int, max_partitions: int = MAX_PARTITIONS) -> dict:
    """{"format", "columns", "lines", "partitions": [...]} for `file`; InputError when it is empty, has no
    rows, lacks a feature column or is not readable as CSV or Parquet."""
    if partition_bytes < 1 or max_partitions < 1:
        raise ValueError(
            f"partition_bytes and max_partitions must be positive: {partition_bytes}, {max_partitions}"
        )
    if file.read_range(0, len(PARQUET_MAGIC)) == PARQUET_MAGIC:
        plan = _plan_parquet(file, partition_bytes, max_partitions)
    else:
        plan = _plan_csv(file, partition_bytes, max_partitions)
    plan["lines"] = sum(p["lines"] for p in plan["partitions"])
    if not plan["lines"]:
        raise InputError(f"the input has no rows to score: {file.uri}")
    log.info("%s: %d lines in %d partition(s)", file.uri, plan["lines"], len(plan["partitions"]))
    return plan


def _partition(index: int, first_line: int, lines: int, **where: int) -> dict[str, Any]:
    last = first_line + lines - 1
    return {
        "index": index,
        "name": f"part-{index:05d} lines {first_line}-{last}",
        "first_line": first_line,
        "lines": lines,
        **where,
    }


def _plan_csv(file: InputFile, partition_bytes: int, max_partitions: int) -> dict:
    first = file.read_range(0, STREAM_BLOCK_BYTES)
    if b"\n" not in first and file.size > len(first):
        raise InputError(f"the first line of {file.uri} is longer than {len(first)} bytes: not a CSV header")
    header = read_header(first)
    check_scoring_columns(header.names)
    body = file.size - header.body_start
    if body <= 0:
        raise InputError(f"the input has a header but no rows: {file.uri}")
    target = max(partition_bytes, math.ceil(body / max_partitions))
    partitions: list[dict] = []
    start, first_line = header.body_start, 2
    seen = at_start = 0  # "\n" counted from the body's start: before this block, before this partition
    cut = start + target - 1  # the partition ends just after the first "\n" at or after this byte
    last_byte = b""
    for offset, block in file.iter_blocks(header.body_start):
        while cut < offset + len(block):
            found = block.find(b"\n", max(cut - offset, 0))
            if found < 0:
                break
            end, through = offset + found + 1, seen + block.count(b"\n", 0, found + 1)
            partitions.append(
                _partition(len(partitions), first_line, through - at_start, start=start, end=end)
            )
            start, first_line, at_start = end, first_line + through - at_start, through
            cut = start + target - 1
        seen += block.count(b"\n")
        last_byte = block[-1:]
    if start < file.size:  # the rest; its last line may lack a "\n"
        lines = seen - at_start + (last_byte != b"\n")
        partitions.append(_partition(len(partitions), first_line, lines, start=start, end=file.size))
    return {"format": CSV, "columns": header.names, "partitions": partitions}


def _plan_parquet(file: InputFile, partition_bytes: int, max_partitions: int) -> dict:
    parquet = open_parquet(file)
    names = parquet.schema_arrow.names
    check_scoring_columns(names)
    metadata = parquet.metadata
    sizes = [
        sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        for group in (metadata.row_group(g) for g in range(metadata.num_row_groups))
    ]
    target = max(partition_bytes, math.ceil(sum(sizes) / max_partitions))
    partitions: list[dict] = []
    first_group, first_line, gathered, rows = 0, 1, 0, 0
    for group, size in enumerate(sizes):
        gathered += size
        rows += metadata.row_group(group).num_rows
        if gathered >= target or group == len(sizes) - 1:
            partitions.append(
                _partition(len(partitions), first_line, rows, first_group=first_group, end_group=group + 1)
            )
            first_group, first_line, gathered, rows = group + 1, first_line + rows, 0, 0
    return {"format": PARQUET, "columns": names, "partitions": partitions}
