"""The prediction log's files: date partitions, one new file per flush and date, read back by date range."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from etl.contract import FEATURES
from etl.lake import LocalLake
from monitoring.prediction_log import LOGGED_AT, SCHEMA, read_predictions, write_predictions


def logged_rows(count: int, when: datetime) -> pd.DataFrame:
    rows = []
    for index in range(count):
        row = {name: None for name in SCHEMA.names}
        row.update(
            request_id=f"r{index}",
            record_index=0,
            logged_at=when,
            protocol="rest",
            alias="champion",
            model_version=1,
            predicted_class="Low",
            proba_Low=0.8,
            proba_Medium=0.15,
            proba_High=0.05,
            Gender="Female",
        )
        rows.append(row)
    return pd.DataFrame(rows)


def test_rows_land_in_their_date_partition_and_read_back_by_range(tmp_path):
    lake = LocalLake(tmp_path)
    first, second = datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    keys = write_predictions(lake, "predictions", pd.concat([logged_rows(2, first), logged_rows(3, second)]))
    keys += write_predictions(lake, "predictions", logged_rows(1, second))

    assert [key.split("/")[0] for key in keys] == ["date=2026-11-30", "date=2026-12-01", "date=2026-12-01"]
    assert len(set(keys)) == 3
    assert len(read_predictions(lake, "predictions", date(2026, 12, 1), date(2026, 12, 1))) == 4
    everything = read_predictions(lake, "predictions", date(2026, 11, 1), date(2026, 12, 31))
    assert len(everything) == 6 and list(everything.columns) == SCHEMA.names
    assert set(FEATURES) <= set(everything.columns)
    assert everything[LOGGED_AT].dt.tz is not None


def test_an_empty_range_reads_as_an_empty_frame_with_the_schema(tmp_path):
    frame = read_predictions(LocalLake(tmp_path), "predictions", date(2026, 1, 1), date(2026, 1, 2))
    assert frame.empty and list(frame.columns) == SCHEMA.names
