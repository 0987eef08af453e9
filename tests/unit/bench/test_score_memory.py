"""The batch-scoring memory bench's pieces that need no model: the repeated input has exactly the rows asked
for, and the targets read the figures (peak at the larger size against 1 GB, growth between the sizes)."""

from __future__ import annotations

from benchmarks.score_memory import STREAMED, WHOLE_FILE, score_memory_targets, write_rows_copy


def test_rows_copy_repeats_data_lines_to_exactly_the_count(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\n1,2\n3,4\n5,6")  # no newline at the end

    copy = write_rows_copy(source, tmp_path / "copy.csv", 7)

    assert copy.read_bytes() == b"a,b\n" + b"1,2\n3,4\n5,6\n" * 2 + b"1,2\n"


def figure(rows: int, approach: str, peak_mb: float) -> dict:
    return {"rows": rows, "approach": approach, "peak_bytes": peak_mb * 1e6, "rows_per_s": 1000}


def test_targets_hold_the_peak_to_1_gb_and_flat():
    figures = {
        "limit_bytes": 1 << 30,
        "rows": [
            figure(1_000_000, STREAMED, 500),
            figure(1_000_000, WHOLE_FILE, 1500),
            figure(2_000_000, STREAMED, 520),
            figure(2_000_000, WHOLE_FILE, 2900),
        ],
    }
    peak, growth = score_memory_targets(figures)
    assert (peak["measured"], peak["met"]) == (520, True)
    assert "whole-file read: 2900 MB" in peak["note"]
    assert (growth["measured"], growth["met"]) == (1.04, True)

    figures["rows"][2] = figure(2_000_000, STREAMED, 1100)
    peak, growth = score_memory_targets(figures)
    assert peak["met"] is False and growth["met"] is False
