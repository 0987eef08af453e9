"""The hot-path contract check: every kind of bad input is refused with the record index and the field named,
and it agrees with the documented request model (pydantic, built from the same contract)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from burnout_api.schemas import EXAMPLE_RECORD, EmployeeRecord
from burnout_api.validation import (
    MAX_REPORTED_ERRORS,
    InvalidInput,
    check_columns,
    decode_json,
    parse_records,
    validate_records,
)
from etl.contract import BY_NAME, CATEGORICAL_FEATURES, FEATURES, NULLABLE_FEATURES, NUMERIC_FEATURES

NULLABLE = NULLABLE_FEATURES[0]
INTEGER = next(n for n in NUMERIC_FEATURES if BY_NAME[n].kind == "integer")
FLOAT = next(n for n in NUMERIC_FEATURES if BY_NAME[n].kind == "float" and not BY_NAME[n].nullable)
CATEGORY = CATEGORICAL_FEATURES[0]


def with_value(field: str, value: object) -> dict:
    return {**EXAMPLE_RECORD, field: value}


def without(field: str) -> dict:
    return {k: v for k, v in EXAMPLE_RECORD.items() if k != field}


def refusal(records: object, max_batch: int = 100) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_records(records, max_batch)
    return caught.value


BAD_RECORDS = {  # case: (record, field named, error type)
    "unknown column": ({**EXAMPLE_RECORD, "Shoe Size": 42}, "Shoe Size", "unknown_column"),
    "missing column": (without(INTEGER), INTEGER, "missing"),
    "null in a required column": (with_value(INTEGER, None), INTEGER, "null"),
    "number as a string": (with_value(FLOAT, "7.5"), FLOAT, "wrong_type"),
    "boolean as a number": (with_value(INTEGER, True), INTEGER, "wrong_type"),
    "fraction in an integer column": (with_value(INTEGER, 2.5), INTEGER, "not_integer"),
    "above the maximum": (with_value(INTEGER, BY_NAME[INTEGER].maximum + 1), INTEGER, "out_of_range"),
    "integer beyond any float": (with_value(FLOAT, 10**400), FLOAT, "out_of_range"),
    "below the minimum": (with_value(FLOAT, BY_NAME[FLOAT].minimum - 0.1), FLOAT, "out_of_range"),
    "NaN": (with_value(FLOAT, math.nan), FLOAT, "not_finite"),
    "infinity in a nullable column": (with_value(NULLABLE, math.inf), NULLABLE, "not_finite"),
    "unknown category": (with_value(CATEGORY, "Robot"), CATEGORY, "unknown_category"),
    "number as a category": (with_value(CATEGORY, 1), CATEGORY, "wrong_type"),
    "list as a category": (with_value(CATEGORY, ["Male"]), CATEGORY, "wrong_type"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_validate_records_names_record_and_field(case):
    record, field, kind = BAD_RECORDS[case]
    refused = refusal([EXAMPLE_RECORD, record])
    assert [(e.record, e.field, e.type) for e in refused.errors] == [(1, field, kind)]
    assert str(refused).startswith(f"record 1, field {field!r}: ")


@pytest.mark.parametrize(
    ("records", "kind"),
    [
        ([], "empty_batch"),
        ({"records": []}, "not_a_list"),
        ([EXAMPLE_RECORD] * 4, "batch_too_large"),
        (["Female"], "not_a_record"),
    ],
)
def test_validate_records_refuses_bad_batches(records, kind):
    error = refusal(records, max_batch=3).errors[0]
    assert error.type == kind


def test_validate_records_reports_every_problem_up_to_a_cap():
    records = [with_value(INTEGER, -1) for _ in range(MAX_REPORTED_ERRORS + 5)]
    errors = refusal(records).errors
    assert len(errors) == MAX_REPORTED_ERRORS
    assert [e.record for e in errors] == list(range(MAX_REPORTED_ERRORS))


def test_validate_records_turns_records_into_arrays():
    incomplete = without(NULLABLE)
    batch = validate_records(
        [EXAMPLE_RECORD, incomplete, with_value(NULLABLE, None), with_value(INTEGER, 2.0)], max_batch=10
    )
    position = NUMERIC_FEATURES.index(NULLABLE)
    assert batch.numeric.shape == (4, len(NUMERIC_FEATURES))
    assert batch.numeric.dtype == np.float64
    assert np.isnan(batch.numeric[1, position]) and np.isnan(batch.numeric[2, position])
    assert np.isnan(batch.numeric).any(axis=1).tolist() == [False, True, True, False]
    assert batch.categorical[0] == tuple(EXAMPLE_RECORD[c] for c in CATEGORICAL_FEATURES)
    assert batch.numeric[0].tolist() == [float(EXAMPLE_RECORD[n]) for n in NUMERIC_FEATURES]


def test_parse_records_builds_the_batch_the_walk_builds():
    records = [EXAMPLE_RECORD, without(NULLABLE), with_value(NULLABLE, None), with_value(FLOAT, 7)] * 3
    parsed, walked = parse_records(json.dumps(records).encode(), 100), validate_records(records, 100)
    np.testing.assert_array_equal(parsed.numeric, walked.numeric)
    assert parsed.categorical == walked.categorical


def test_parse_records_takes_what_only_the_walk_takes():
    body = json.dumps([with_value(INTEGER, 2.0)]).encode()  # an integral float in an integer column
    assert (
        parse_records(body, 10).numeric.tolist()
        == validate_records([with_value(INTEGER, 2.0)], 10).numeric.tolist()
    )


def as_columns(records: list[dict]) -> dict[str, list]:
    return {name: [record[name] for record in records] for name in FEATURES}


def test_check_columns_builds_the_batch_the_walk_builds():
    records = [EXAMPLE_RECORD, with_value(NULLABLE, None), with_value(FLOAT, 7), with_value(INTEGER, 2.0)] * 3
    checked, walked = check_columns(as_columns(records)), validate_records(records, 100)
    np.testing.assert_array_equal(checked.numeric, walked.numeric)
    assert checked.categorical == walked.categorical
    # A missing value is None; NaN sent as a value is the walk's to refuse, even where a value may be missing.
    assert check_columns(as_columns([with_value(NULLABLE, math.nan)])) is None


@pytest.mark.parametrize("case", sorted(set(BAD_RECORDS) - {"unknown column", "missing column"}))
def test_check_columns_leaves_every_bad_value_to_the_walk(case):
    record = BAD_RECORDS[case][0]
    assert check_columns(as_columns([EXAMPLE_RECORD, record])) is None
    assert refusal([EXAMPLE_RECORD, record]).errors[0].record == 1


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_parse_records_refuses_a_bad_body_as_the_walk_does(case):
    records = [EXAMPLE_RECORD, BAD_RECORDS[case][0]]
    with pytest.raises(InvalidInput) as caught:
        parse_records(json.dumps(records).encode(), 100)
    assert caught.value.errors == refusal(records).errors


@pytest.mark.parametrize("body", [b"[]", b"{}", b'["Female"]', json.dumps([EXAMPLE_RECORD] * 4).encode()])
def test_parse_records_refuses_bad_batches_as_the_walk_does(body):
    with pytest.raises(InvalidInput) as caught:
        parse_records(body, 3)
    assert caught.value.errors == refusal(json.loads(body), max_batch=3).errors


def test_decode_json_refuses_malformed_bodies():
    for body in (b"[{", b"\xff\xfe", b""):
        with pytest.raises(InvalidInput) as caught:
            decode_json(body)
        assert caught.value.errors[0].type == "invalid_json"


AGREEMENT_CASES = [
    EXAMPLE_RECORD,
    without(NULLABLE),
    with_value(NULLABLE, None),
    *(r for r, _, _ in BAD_RECORDS.values()),
    with_value(FLOAT, BY_NAME[FLOAT].maximum),
    with_value(INTEGER, BY_NAME[INTEGER].minimum),
]


@pytest.mark.parametrize("record", AGREEMENT_CASES, ids=range(len(AGREEMENT_CASES)))
def test_validate_records_agrees_with_the_request_model(record):
    try:
        EmployeeRecord.model_validate(record)
        documented_ok = True
    except ValidationError:
        documented_ok = False
    try:
        validate_records([record], max_batch=1)
        checked_ok = True
    except InvalidInput:
        checked_ok = False
    assert checked_ok == documented_ok


def test_example_record_is_valid_for_both():
    EmployeeRecord.model_validate(EXAMPLE_RECORD)
    assert len(validate_records([EXAMPLE_RECORD], max_batch=1)) == 1
