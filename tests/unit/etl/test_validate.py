"""Validation derived from the contract: each kind of malformed value in each column sends exactly its row
to quarantine with a reason naming the field and value; good rows come out typed, keeping only the columns the
ETL goes on with; validating chunk by chunk gives what validating in one piece gives; unusable inputs raise
InputError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etl.column_types import KEPT_COLUMNS, contract_types
from etl.contract import BY_NAME, COLUMNS, DROPPED, NULLABLE_FEATURES, TARGET, Column
from etl.errors import InputError
from etl.parse_csv import LINE, QUARANTINE_COLUMNS, REASON, RECORD, parse_csv
from etl.validate import validate_csv, validate_records


def _malformed_cases() -> list[tuple[Column, str, str]]:
    """(column, bad value, expected phrase) for every way each contract column can be broken."""
    cases = []
    for column in COLUMNS:
        if not column.nullable:
            cases.append((column, "", "missing (required)"))
        if column.kind == "category":
            cases.append((column, "Unknown", "unknown category 'Unknown'"))
            cases.append((column, column.categories[0].lower(), "unknown category"))  # case matters
        if column.kind == "date":
            cases.append((column, "2008-02-30", "is not a YYYY-MM-DD date"))
            cases.append((column, "30/09/2008", "is not a YYYY-MM-DD date"))
        if column.is_numeric:
            cases.append((column, "abc", "'abc' is not a number"))
            cases.append((column, "inf", "is not a number"))
            cases.append((column, f"{column.minimum - 1:g}", f"below the minimum {column.minimum:g}"))
            cases.append((column, f"{column.maximum + 1:g}", f"above the maximum {column.maximum:g}"))
        if column.kind == "integer":
            cases.append((column, f"{column.minimum + 0.5:g}", "is not a whole number"))
    return cases


MALFORMED = _malformed_cases()


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "").astype(str)


@pytest.fixture(scope="module")
def good_text(synthetic_frame) -> pd.DataFrame:
    return _text_frame(synthetic_frame.head(10))


@pytest.mark.parametrize(
    ("column", "value", "phrase"), MALFORMED, ids=[f"{c.name}={v!r}" for c, v, _ in MALFORMED]
)
def test_validate_quarantines_malformed_value_with_reason(good_text, csv_bytes, column, value, phrase):
    frame = good_text.copy()
    frame.loc[5, column.name] = value
    validation = validate_records(parse_csv(csv_bytes(frame)))

    assert len(validation.valid) == 9
    assert validation.quarantine[LINE].tolist() == [7]  # header is line 1, row 5 is line 7
    reason = validation.quarantine[REASON].iloc[0]
    assert reason.startswith(f"{column.name}: ") and phrase in reason
    assert validation.problems == {column.name: 1}
    assert value in validation.quarantine[RECORD].iloc[0]


def test_validate_accepts_missing_values_in_nullable_columns(synthetic_frame, csv_bytes):
    frame = _text_frame(synthetic_frame.head(10))
    for i, token in enumerate(["", "NA", "nan", " null "]):
        frame.loc[i, list(NULLABLE_FEATURES) + [TARGET]] = token
    validation = validate_records(parse_csv(csv_bytes(frame)))
    assert len(validation.quarantine) == 0
    assert validation.valid.loc[[2, 3, 4, 5], TARGET].isna().all()


def test_validate_keeps_the_features_and_target_in_compact_types(synthetic_frame, csv_bytes):
    frame = _text_frame(synthetic_frame.head(30))
    frame["Gender"] = "  " + frame["Gender"] + " "  # surrounding blanks are not part of a value
    valid = validate_records(parse_csv(csv_bytes(frame))).valid
    assert list(valid.columns) == list(KEPT_COLUMNS) and not set(DROPPED) & set(valid.columns)
    assert valid.index.name == LINE and valid.index.tolist() == list(range(2, 32))
    for name in KEPT_COLUMNS:
        column, dtype = BY_NAME[name], valid[name].dtype
        if column.kind == "category":
            assert isinstance(dtype, pd.CategoricalDtype), name
        elif column.kind == "integer":
            assert np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2, name  # ranges fit 1 or 2 bytes
        else:
            assert dtype == "float64", name
    expected = synthetic_frame.head(30).set_axis(valid.index)
    pd.testing.assert_series_equal(valid[TARGET], expected[TARGET])
    assert valid["Gender"].tolist() == expected["Gender"].tolist()


def test_contract_types_are_the_published_types(synthetic_frame, csv_bytes):
    valid = contract_types(validate_records(parse_csv(csv_bytes(synthetic_frame.head(30)))).valid)
    for name in KEPT_COLUMNS:
        column, dtype = BY_NAME[name], valid[name].dtype
        if column.kind == "integer":
            assert dtype == "int64", name
        elif column.is_numeric:
            assert dtype == "float64", name
        else:
            assert pd.api.types.is_string_dtype(dtype), name
    expected = synthetic_frame.head(30).set_axis(valid.index)[list(KEPT_COLUMNS)]
    pd.testing.assert_frame_equal(valid, expected, check_dtype=False)


def test_validate_in_chunks_gives_the_one_piece_result(synthetic_frame, csv_bytes):
    frame = _text_frame(synthetic_frame.head(300))
    frame.loc[::7, "Gender"] = "Robot"
    frame.loc[::11, "Sleep Hours"] = "-1"
    lines = csv_bytes(frame).decode().splitlines()
    lines[40:40] = ["", '1,"unterminated', lines[5] + ",surplus"]
    data = ("\n".join(lines) + "\n").encode()
    whole = validate_records(parse_csv(data))
    for chunk_bytes in (64, 4096):
        chunked = validate_csv(data, chunk_bytes=chunk_bytes)
        pd.testing.assert_frame_equal(chunked.valid, whole.valid)
        pd.testing.assert_frame_equal(chunked.quarantine, whole.quarantine)
        assert chunked.problems == whole.problems
        assert chunked.blank_lines == whole.blank_lines == 1
    assert list(whole.problems) == ["Gender", "Sleep Hours", "record"]  # contract order, then lines
    assert whole.problems["record"] == 2
    assert 1 + whole.rows + whole.blank_lines == len(lines)


def test_validate_joins_every_problem_of_a_row(synthetic_frame, csv_bytes):
    frame = _text_frame(synthetic_frame.head(3))
    frame.loc[1, ["Gender", "Sleep Hours", "Team Size"]] = ["X", "-1", "many"]
    quarantine = validate_records(parse_csv(csv_bytes(frame))).quarantine
    assert quarantine[REASON].iloc[0] == (
        "Gender: unknown category 'X' (allowed: Female, Male); Sleep Hours: -1 is below the minimum 0; "
        "Team Size: 'many' is not a number"
    )


def test_validate_merges_misaligned_records_into_quarantine(synthetic_frame, csv_bytes):
    text = csv_bytes(synthetic_frame.head(4)).decode().splitlines()
    text.insert(2, text[2] + ",surplus")
    text[4] = text[4].replace("Female", "Robot").replace("Male", "Robot")
    validation = validate_records(parse_csv("\n".join(text).encode()))
    assert list(validation.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert validation.quarantine[LINE].tolist() == [3, 5]
    assert validation.quarantine[REASON].iloc[0].startswith("record: has 18 fields")
    assert validation.problems == {"Gender": 1, "record": 1}
    assert len(validation.valid) + len(validation.quarantine) == 5


def test_validate_reports_and_ignores_extra_columns(synthetic_frame, csv_bytes):
    frame = synthetic_frame.head(5).assign(Notes="n/a", Department="HR")
    validation = validate_records(parse_csv(csv_bytes(frame)))
    assert validation.extra_columns == ["Notes", "Department"]
    assert list(validation.valid.columns) == list(KEPT_COLUMNS)
    assert len(validation.quarantine) == 0


def test_validate_missing_columns_is_an_input_error_naming_them(synthetic_frame, csv_bytes):
    frame = synthetic_frame.head(5).drop(columns=["Sleep Hours", TARGET])
    with pytest.raises(InputError, match=r"missing required column\(s\) \['Burn Rate', 'Sleep Hours'\]"):
        validate_records(parse_csv(csv_bytes(frame)))


def test_validate_quarantines_everything_without_crashing(synthetic_frame, csv_bytes):
    frame = _text_frame(synthetic_frame.head(6))
    frame["Designation"] = "senior"
    validation = validate_records(parse_csv(csv_bytes(frame)))
    assert validation.valid.empty and len(validation.quarantine) == 6
    assert list(validation.valid.columns) == list(KEPT_COLUMNS)
