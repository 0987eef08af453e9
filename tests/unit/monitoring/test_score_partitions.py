"""The scoring plan: CSV partitions are line-aligned byte ranges that carry the file's own line numbers, and
read partition by partition they give exactly what one pass gives (quoted fields, CRLF, blank lines, a
malformed line, no final newline); never more than 64 partitions; Parquet partitions are row groups, read
without the rest of the file. No model is needed here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from etl.errors import InputError
from etl.input_file import InputFile
from etl.synthetic import generate_synthetic
from monitoring.score_input import iter_partition_chunks
from monitoring.score_partitions import MAX_PARTITIONS, plan_partitions


@dataclass(frozen=True)
class CountingFile(InputFile):
    """An InputFile that remembers the byte ranges it read."""

    ranges: list = field(default_factory=list)

    def _read(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return super()._read(start, end)


def input_file(path: Path) -> CountingFile:
    return CountingFile(uri=path.as_uri(), size=path.stat().st_size, path=path)


def tricky_csv(rows: int = 40) -> bytes:
    """The synthetic rows with what the strict parser must see the same way in any partition: a quoted
    category, a quoted field with a comma (a malformed row: the wrong category), CRLF endings, blank lines,
    an unterminated quote (one malformed line) and no final newline."""
    lines = generate_synthetic(rows=rows, seed=3).to_csv(index=False).splitlines()
    lines[3] = lines[3].replace(",Female,", ',"Female",').replace(",Male,", ',"Male",')
    lines[5] = lines[5].replace(",Female,", ',"Fe,male",').replace(",Male,", ',"Ma,le",')
    lines[8] += "\r"
    lines[12:12] = ["", "\r"]
    lines[20] = '"unterminated,' + lines[20]
    return ("\n".join(lines)).encode()


def read_all_partitions(file: InputFile, plan: dict) -> dict:
    """What the partitions hold, concatenated in order."""
    chunks = [c for p in plan["partitions"] for c in iter_partition_chunks(file, plan, p)]
    return {
        "lines": np.concatenate([c.lines for c in chunks]),
        "numeric": np.concatenate([c.numeric for c in chunks]),
        "ids": np.concatenate([c.ids for c in chunks]),
        "quarantine": pd.concat([c.quarantine for c in chunks], ignore_index=True),
        "blank_lines": sum(c.blank_lines for c in chunks),
    }


@pytest.mark.parametrize("partition_bytes", [1, 300, 1000, 1 << 20])
def test_csv_partitions_are_line_aligned_and_parse_as_one_pass(tmp_path, partition_bytes):
    data = tricky_csv()
    (tmp_path / "in.csv").write_bytes(data)
    file = input_file(tmp_path / "in.csv")

    plan = plan_partitions(file, partition_bytes)
    whole = plan_partitions(file, len(data))

    partitions = plan["partitions"]
    assert len(whole["partitions"]) == 1 and (len(partitions) > 1) == (partition_bytes < 5000)
    assert partitions[0]["start"] == data.index(b"\n") + 1 and partitions[-1]["end"] == len(data)
    physical_lines = data.count(b"\n") + 1  # no final newline
    assert plan["lines"] == physical_lines - 1  # all but the header
    next_line = 2
    for before, after in zip(partitions, partitions[1:], strict=False):
        assert before["end"] == after["start"] and data[after["start"] - 1 : after["start"]] == b"\n"
    for partition in partitions:
        assert partition["first_line"] == next_line
        assert (
            partition["lines"] == data[partition["start"] : partition["end"]].rstrip(b"\n").count(b"\n") + 1
        )
        next_line += partition["lines"]

    parts, one = read_all_partitions(file, plan), read_all_partitions(file, whole)
    assert np.array_equal(parts["lines"], one["lines"]) and np.array_equal(parts["ids"], one["ids"])
    assert np.array_equal(parts["numeric"], one["numeric"], equal_nan=True)
    pd.testing.assert_frame_equal(parts["quarantine"], one["quarantine"])
    assert parts["blank_lines"] == one["blank_lines"] == 2
    # The lines are the file's own: the malformed ones sit where they are in the file.
    text_lines = data.decode().split("\n")
    assert parts["quarantine"]["line"].tolist() == [6, 21]  # "Fe,male" (a wrong category), the open quote
    assert parts["quarantine"]["record"][1] == text_lines[20]
    assert len(parts["lines"]) + len(parts["quarantine"]) + parts["blank_lines"] == plan["lines"]


def test_a_large_file_gets_at_most_64_partitions(tmp_path):
    data = generate_synthetic(rows=500, seed=1).to_csv(index=False).encode()
    (tmp_path / "in.csv").write_bytes(data)

    plan = plan_partitions(input_file(tmp_path / "in.csv"), partition_bytes=1)

    assert MAX_PARTITIONS // 2 < len(plan["partitions"]) <= MAX_PARTITIONS
    assert plan["lines"] == 500


def test_the_plan_streams_the_file_in_blocks(tmp_path, monkeypatch):
    import monitoring.score_partitions

    monkeypatch.setattr(monitoring.score_partitions, "STREAM_BLOCK_BYTES", 4096)
    data = generate_synthetic(rows=300, seed=2).to_csv(index=False).encode()
    (tmp_path / "in.csv").write_bytes(data)
    file = input_file(tmp_path / "in.csv")

    plan = plan_partitions(file, partition_bytes=5000)

    assert max(end - start for start, end in file.ranges) <= 8 << 20  # never the whole file at once
    assert plan["lines"] == 300 and len(plan["partitions"]) == -(-(len(data) - data.index(b"\n")) // 5000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the input is empty"),
        (b"Employee ID,Gender\n", "missing feature column"),
        (generate_synthetic(rows=1, seed=1).to_csv(index=False).splitlines()[0].encode() + b"\n", "no rows"),
        (b'"Employee ID,Gender\n1,Male\n', "not a CSV header"),
    ],
)
def test_inputs_that_cannot_be_planned_are_refused(tmp_path, content, message):
    (tmp_path / "in.csv").write_bytes(content)
    with pytest.raises(InputError, match=message):
        plan_partitions(input_file(tmp_path / "in.csv"), partition_bytes=1024)


def test_parquet_partitions_are_row_groups_read_alone(tmp_path):
    # Large enough (110 kB) that pyarrow's first read, the last 64 kB for the footer, is not the whole file.
    frame = generate_synthetic(rows=4000, seed=4)
    frame.to_parquet(tmp_path / "in.parquet", index=False, row_group_size=1000)
    file = input_file(tmp_path / "in.parquet")

    plan = plan_partitions(file, partition_bytes=1)

    assert plan["format"] == "parquet" and plan["lines"] == 4000
    assert [(p["first_group"], p["end_group"], p["first_line"]) for p in plan["partitions"]] == [
        (0, 1, 1),
        (1, 2, 1001),
        (2, 3, 2001),
        (3, 4, 3001),
    ]
    file.ranges.clear()
    chunks = list(iter_partition_chunks(file, plan, plan["partitions"][2]))
    assert np.concatenate([c.lines for c in chunks]).tolist() == list(range(2001, 3001))
    group_1 = pq.ParquetFile(tmp_path / "in.parquet").metadata.row_group(1)
    group_1_start = min(
        min(filter(None, (column.dictionary_page_offset, column.data_page_offset)))
        for column in (group_1.column(c) for c in range(group_1.num_columns))
    )
    assert min(start for start, _ in file.ranges) >= group_1_start  # group 0 is never read
    assert plan_partitions(file, partition_bytes=1, max_partitions=3)["partitions"][-1]["end_group"] == 4
    assert len(plan_partitions(file, partition_bytes=1, max_partitions=3)["partitions"]) <= 3
