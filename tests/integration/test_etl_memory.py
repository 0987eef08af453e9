"""The ETL's peak memory on an input 100 times the real dataset's size (its rows repeated: 2.3 M rows, about
200 MB; synthetic rows of the same count when the real dataset is not beside the project), measured as
`make bench` measures it: the peak RSS of a fresh process running run_etl, over its RSS just before the call.
The bound is five times the input's size, with 10% for measurement noise. Takes about half a minute."""

from __future__ import annotations

import logging

import pytest

from benchmarks.data import REAL_ROWS, find_real_dataset
from benchmarks.etl_memory import LIMIT_RATIO, SCALE, measure_etl_memory, write_scaled_copy
from etl.synthetic import write_synthetic_csv

log = logging.getLogger(__name__)
MARGIN = 1.1


@pytest.mark.slow
def test_run_etl_peak_memory_on_a_100x_input_stays_within_five_times_its_size(tmp_path, record_property):
    source = find_real_dataset()
    if source is None:
        source = write_synthetic_csv(tmp_path / "one.csv", rows=REAL_ROWS, seed=5)["path"]
    scaled = write_scaled_copy(source, tmp_path / f"x{SCALE}.csv", SCALE)

    figures = measure_etl_memory(scaled, tmp_path / "home")

    record_property("etl_peak_ratio", round(figures["peak_ratio"], 2))
    log.info(
        "ETL on %d rows: peak %.0f MB, %.2fx the input",
        figures["rows_in"],
        figures["peak_bytes"] / 1e6,
        figures["peak_ratio"],
    )
    assert figures["rows_in"] == SCALE * REAL_ROWS
    assert figures["input_bytes"] == scaled.stat().st_size
    assert figures["peak_bytes"] <= LIMIT_RATIO * MARGIN * figures["input_bytes"]
