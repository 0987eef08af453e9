"""Labelled records (etl.labelled): written to the raw bucket under labelled/ in the raw dataset's column
order, never over another file; appended, in key order, to the raw object's bytes when the ETL reads its
default input, and ignored by an explicit input."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from etl.contract import FEATURES, RAW_COLUMNS, TARGET
from etl.errors import InputError
from etl.ingest import upload_raw
from etl.labelled import (
    LABELLED_PREFIX,
    labelled_keys,
    new_labelled_key,
    read_etl_input,
    write_labelled_records,
)
from etl.lake import lake_from_settings
from etl.quarantine import LINE, REASON
from etl.validate import validate_csv

QUALITY_COLUMNS = ["Employee ID", *FEATURES, TARGET]  # what model_quality has of a matched record


def labelled_frame(synthetic_frame: pd.DataFrame, rows: int = 5, start: int = 0) -> pd.DataFrame:
    frame = synthetic_frame.iloc[start : start + rows].dropna(subset=[TARGET]).copy()
    frame.index = range(100, 100 + len(frame))  # the caller's index is not written
    return frame


def raw_in_lake(settings, tmp_path, synthetic_frame, rows: int = 30) -> bytes:
    path = tmp_path / "raw.csv"
    synthetic_frame.iloc[:rows].to_csv(path, index=False)
    upload_raw(settings, path)
    return path.read_bytes()


def read_key(settings, key: str) -> bytes:
    return lake_from_settings(settings).read_bytes(settings.raw_bucket, key)


def test_write_labelled_records_writes_the_raw_column_order_with_missing_columns_empty(
    settings, synthetic_frame
):
    frame = labelled_frame(synthetic_frame)[QUALITY_COLUMNS]
    frame = frame[list(reversed(frame.columns))]  # the frame's own order does not matter
    frame["Employee ID"] = frame["Employee ID"].astype(object)
    frame.iloc[0, frame.columns.get_loc("Employee ID")] = None
    frame["request_id"] = "not a contract column"

    uri = write_labelled_records(settings, frame)

    lake = lake_from_settings(settings)
    (key,) = labelled_keys(settings)
    assert key.startswith(f"{LABELLED_PREFIX}quality-") and key.endswith(".csv")
    assert uri == lake.uri(settings.raw_bucket, key)
    text = read_key(settings, key).decode()
    assert text.splitlines()[0] == ",".join(RAW_COLUMNS)
    written = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    assert list(written.columns) == list(RAW_COLUMNS) and len(written) == len(frame)
    assert (written["Date of Joining"] == "").all() and (written["Years in Company"] == "").all()
    assert written["Employee ID"].iloc[0] == "" and written["Employee ID"].iloc[1] != ""
    np.testing.assert_allclose(written[TARGET].astype(float), frame[TARGET].to_numpy())
    assert written["Gender"].tolist() == frame["Gender"].tolist()


def test_write_labelled_records_never_overwrites(settings, synthetic_frame):
    first = write_labelled_records(settings, labelled_frame(synthetic_frame, start=0))
    second = write_labelled_records(settings, labelled_frame(synthetic_frame, start=10))

    assert first != second
    keys = labelled_keys(settings)
    assert len(keys) == 2 and keys == sorted(keys)
    assert read_key(settings, keys[0]) != read_key(settings, keys[1])


def test_labelled_keys_sort_in_time_order():
    early = new_labelled_key(datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    late = new_labelled_key(datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=UTC))
    assert early.startswith("labelled/quality-20250102T030405000006Z-")
    assert early < late


@pytest.mark.parametrize("dropped", [TARGET, "Sleep Hours"])
def test_write_labelled_records_refuses_a_frame_without_a_feature_or_the_target(
    settings, synthetic_frame, dropped
):
    with pytest.raises(InputError, match=f"lack column.*{dropped}"):
        write_labelled_records(settings, labelled_frame(synthetic_frame).drop(columns=dropped))
    assert labelled_keys(settings) == []


def test_write_labelled_records_refuses_an_empty_frame(settings, synthetic_frame):
    with pytest.raises(InputError, match="empty"):
        write_labelled_records(settings, synthetic_frame.iloc[:0])
    assert labelled_keys(settings) == []


def test_default_input_without_labelled_files_is_the_raw_object_unchanged(
    settings, tmp_path, synthetic_frame
):
    raw = raw_in_lake(settings, tmp_path, synthetic_frame)
    etl_input = read_etl_input(settings, None)
    assert etl_input.data == raw and etl_input.labelled == []
    assert etl_input.uri == lake_from_settings(settings).uri(settings.raw_bucket, settings.raw_key)


def test_default_input_appends_every_labelled_file_in_key_order(settings, tmp_path, synthetic_frame):
    raw = raw_in_lake(settings, tmp_path, synthetic_frame, rows=30)
    write_labelled_records(settings, labelled_frame(synthetic_frame, rows=5, start=100))
    write_labelled_records(settings, labelled_frame(synthetic_frame, rows=4, start=200))
    first, second = (read_key(settings, key) for key in labelled_keys(settings))

    etl_input = read_etl_input(settings, None)

    body = [b.split(b"\n", 1)[1] for b in (first, second)]
    assert etl_input.data == raw + body[0] + body[1]
    lake = lake_from_settings(settings)
    parts = etl_input.labelled
    assert [p["uri"] for p in parts] == [lake.uri(settings.raw_bucket, k) for k in labelled_keys(settings)]
    lines = etl_input.data.decode().splitlines()
    for part, data in zip(parts, (first, second), strict=True):
        file_lines = data.decode().splitlines()
        assert part["last_line"] - part["first_line"] + 1 == len(file_lines) - 1
        assert part["bytes"] == len(data)
        # A labelled file's line n is line n + line_offset of the combined input (lines count from 1).
        for n in range(2, len(file_lines) + 1):
            assert lines[n + part["line_offset"] - 1] == file_lines[n - 1]
    assert parts[0]["first_line"] == 32 and parts[1]["first_line"] == parts[0]["last_line"] + 1


def test_an_explicit_input_ignores_labelled_files(settings, tmp_path, synthetic_frame):
    raw = raw_in_lake(settings, tmp_path, synthetic_frame)
    write_labelled_records(settings, labelled_frame(synthetic_frame))
    path = tmp_path / "raw.csv"
    lake = lake_from_settings(settings)
    for explicit in (path, path.as_uri()):
        assert read_etl_input(settings, explicit).data == raw
        assert read_etl_input(settings, explicit).labelled == []
    raw_uri = lake.uri(settings.raw_bucket, settings.raw_key)  # the raw object named explicitly
    assert read_etl_input(settings, raw_uri).data == raw and read_etl_input(settings, raw_uri).labelled == []


def test_raw_object_without_a_final_newline_keeps_its_lines(settings, tmp_path, synthetic_frame):
    path = tmp_path / "raw.csv"
    path.write_bytes(synthetic_frame.iloc[:10].to_csv(index=False).encode().rstrip(b"\n"))
    upload_raw(settings, path)
    write_labelled_records(settings, labelled_frame(synthetic_frame, rows=3))

    etl_input = read_etl_input(settings, None)

    assert etl_input.labelled[0]["first_line"] == 12  # header + 10 records before it
    validation = validate_csv(etl_input.data)
    assert validation.rows == 10 + 3 - int(labelled_frame(synthetic_frame, rows=3)[TARGET].isna().sum())


def test_a_raw_object_with_another_column_order_gets_the_labelled_fields_moved(
    settings, tmp_path, synthetic_frame
):
    raw_frame = synthetic_frame.iloc[:20][list(reversed(RAW_COLUMNS))].copy()
    raw_frame["Comment"] = "extra"
    path = tmp_path / "raw.csv"
    raw_frame.to_csv(path, index=False)
    upload_raw(settings, path)
    labelled = labelled_frame(synthetic_frame, rows=4, start=300)
    write_labelled_records(settings, labelled)

    data = read_etl_input(settings, None).data

    combined = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    assert list(combined.columns) == [*reversed(RAW_COLUMNS), "Comment"]
    tail = combined.iloc[20:]
    assert tail["Gender"].tolist() == labelled["Gender"].tolist()
    np.testing.assert_allclose(tail[TARGET].astype(float), labelled[TARGET].to_numpy())
    assert (tail["Comment"] == "").all()


def test_a_labelled_file_with_a_column_the_raw_object_lacks_is_refused_by_name(
    settings, tmp_path, synthetic_frame
):
    raw_in_lake(settings, tmp_path, synthetic_frame)
    key = f"{LABELLED_PREFIX}by-hand.csv"
    frame = labelled_frame(synthetic_frame).assign(Mood="grumpy")
    lake_from_settings(settings).write_bytes(settings.raw_bucket, key, frame.to_csv(index=False).encode())
    with pytest.raises(InputError, match=r"by-hand\.csv has column\(s\) \['Mood'\]"):
        read_etl_input(settings, None)


def test_a_bad_labelled_row_is_quarantined_and_traced_to_its_file_line(settings, tmp_path, synthetic_frame):
    raw_in_lake(settings, tmp_path, synthetic_frame, rows=30)
    frame = labelled_frame(synthetic_frame, rows=6, start=400)
    frame[TARGET] = frame[TARGET].astype(object)
    frame.iloc[2, frame.columns.get_loc(TARGET)] = 1.5  # the record on the labelled file's line 4
    write_labelled_records(settings, frame)

    etl_input = read_etl_input(settings, None)
    validation = validate_csv(etl_input.data)

    (part,) = etl_input.labelled
    bad = validation.quarantine[validation.quarantine[REASON].str.contains(TARGET)]
    assert len(bad) == 1
    assert bad[REASON].iloc[0] == "Burn Rate: 1.5 is above the maximum 1"
    assert bad[LINE].iloc[0] - part["line_offset"] == 4


def test_labelled_records_on_the_s3_lake(s3_settings, tmp_path, synthetic_frame):
    raw = raw_in_lake(s3_settings, tmp_path, synthetic_frame, rows=10)
    uri = write_labelled_records(s3_settings, labelled_frame(synthetic_frame, rows=3))
    (key,) = labelled_keys(s3_settings)
    assert uri == f"s3://{s3_settings.raw_bucket}/{key}"

    etl_input = read_etl_input(s3_settings, None)

    assert etl_input.data == raw + read_key(s3_settings, key).split(b"\n", 1)[1]
    assert [p["uri"] for p in etl_input.labelled] == [uri]
    assert read_etl_input(s3_settings, f"s3://{s3_settings.raw_bucket}/{s3_settings.raw_key}").data == raw
