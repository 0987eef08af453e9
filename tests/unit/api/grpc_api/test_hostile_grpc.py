"""gRPC under hostile input: bytes that are not a message are INVALID_ARGUMENT (never UNKNOWN or
INTERNAL), invalid records INVALID_ARGUMENT naming record and field, a message over the cap
RESOURCE_EXHAUSTED, an unknown alias NOT_FOUND; no status detail shows an exception class or a server path,
and after every fuzzed batch a good request is still answered."""

from __future__ import annotations

import math
import re

import grpc
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from burnout_api.features import FEATURE_FIELDS
from burnout_api.grpc_gen import burnout_pb2 as pb
from burnout_api.grpc_gen import burnout_pb2_grpc as pb_grpc
from burnout_api.schemas import EXAMPLE_RECORD

from ..hostile_service import FUZZ, leaks, serving_grpc

CAP = 64 * 1024
SERVICE = "/burnout.v1.BurnoutRisk"
GOOD_EMPLOYEE = pb.Employee(**{f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS})
# What a client sending hostile bytes may be told: its request is wrong, or names no model. Never UNKNOWN or
# INTERNAL, which say the server failed.
CLIENT_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
NAMED_FIELD = re.compile(r"record (\d+), field '([^']+)'")
TIMEOUT_S = 10


@pytest.fixture
def channel(make_settings, make_store, lightgbm_pipeline):
    store = make_store({1: lightgbm_pipeline}, {"champion": 1})
    with serving_grpc(make_settings(max_body_bytes=CAP), store) as channel:
        yield channel


def raw(channel: grpc.Channel, method: str = "Predict"):
    """The method as bytes in, bytes out: whatever a client puts on the wire reaches the server as is."""
    return channel.unary_unary(f"{SERVICE}/{method}", request_serializer=None, response_deserializer=None)


def refusal(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call(*args, timeout=TIMEOUT_S)
    return refused.value


def assert_clean_details(error: grpc.RpcError, *echoed: str) -> None:
    assert leaks(error.details() or "", *echoed) == [], (error.code(), error.details())


def assert_still_predicts(channel: grpc.Channel) -> None:
    answer = pb_grpc.BurnoutRiskStub(channel).Predict(
        pb.PredictRequest(records=[GOOD_EMPLOYEE]), timeout=TIMEOUT_S
    )
    assert len(answer.predictions) == 1 and answer.predictions[0].class_name


def strings_in(data: bytes) -> list[str]:
    """The strings a request decodes to (the alias, categories), which a detail may quote back."""
    try:
        request = pb.PredictRequest.FromString(data)
    except DecodeError:
        return []
    texts = [request.model] + [value for e in request.records for _, value in e.ListFields()]
    return [form for text in texts if isinstance(text, str) and text for form in (text, repr(text))]


def test_a_good_request_is_answered(channel):
    assert_still_predicts(channel)
    assert pb.PredictResponse.FromString(
        raw(channel)(pb.PredictRequest(records=[GOOD_EMPLOYEE]).SerializeToString(), timeout=TIMEOUT_S)
    ).predictions


@pytest.mark.parametrize(
    "data",
    [
        b"\xff" * 11,
        b"\x0a\xff\x01",
        b"\x07",
        b"\x0c",
        b"\x12\x02\xff\xfe",
        b"\x0a\x03\x0a\x01\xff",
        b"\x0a\x05\x20" + b"\xff" * 4,
        b"garbage that is no protobuf",
    ],
    ids=[
        "varint_too_long",
        "length_past_the_end",
        "wire_type_7",
        "end_group_without_start",
        "alias_not_utf8",
        "category_not_utf8",
        "truncated_varint_in_a_record",
        "text",
    ],
)
def test_bytes_that_are_not_a_message_are_invalid_argument(channel, data):
    with pytest.raises(DecodeError):
        pb.PredictRequest.FromString(data)

    error = refusal(raw(channel), data)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert_clean_details(error)
    assert_still_predicts(channel)


def test_bytes_that_are_not_a_message_are_invalid_argument_on_every_method(channel):
    for method in ("Predict", "ListModels"):
        error = refusal(raw(channel, method), b"\xff" * 11)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.code(), error.details())
        assert_clean_details(error)

    stream = channel.stream_stream(
        f"{SERVICE}/PredictStream", request_serializer=None, response_deserializer=None
    )
    good = pb.PredictRequest(records=[GOOD_EMPLOYEE]).SerializeToString()
    answers = stream(iter([good, b"\x0a\xff\x01"]), timeout=TIMEOUT_S)
    assert pb.PredictResponse.FromString(next(answers)).predictions
    with pytest.raises(grpc.RpcError) as refused:
        next(answers)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert refused.value.details().startswith("stream message 1: ")
    assert_clean_details(refused.value)
    assert_still_predicts(channel)


def test_fuzzed_bytes_are_answered_or_refused_as_the_clients_error(channel):
    predict = raw(channel)

    @FUZZ
    @given(data=st.binary(max_size=512))
    def send(data):
        try:
            pb.PredictResponse.FromString(predict(data, timeout=TIMEOUT_S))
        except grpc.RpcError as error:
            assert error.code() in CLIENT_ERRORS, (data, error.code(), error.details())
            assert_clean_details(error, *strings_in(data))

    send()
    assert_still_predicts(channel)


def test_fuzzed_message_fields_are_answered_or_refused_as_the_clients_error(channel):
    """Random field numbers and wire types around a good record: protobuf keeps unknown fields, and
    the server must not care, or must refuse the whole as the client's error."""
    predict = raw(channel)
    good = pb.PredictRequest(records=[GOOD_EMPLOYEE]).SerializeToString()

    @FUZZ
    @given(prefix=st.binary(max_size=40), suffix=st.binary(max_size=40))
    def send(prefix, suffix):
        data = prefix + good + suffix
        try:
            pb.PredictResponse.FromString(predict(data, timeout=TIMEOUT_S))
        except grpc.RpcError as error:
            assert error.code() in CLIENT_ERRORS, (data, error.code(), error.details())
            assert_clean_details(error, *strings_in(data))

    send()
    assert_still_predicts(channel)


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
DOUBLES = st.floats(allow_nan=True, allow_infinity=True)
FIELD_VALUES = {
    f.key: {"category": st.text(max_size=20), "integer": INT64}.get(f.column.kind, DOUBLES)
    for f in FEATURE_FIELDS
}
TOUCHED_EMPLOYEE = st.tuples(
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=2),
)


def test_fuzzed_records_are_answered_or_invalid_argument_naming_record_and_field(channel):
    stub = pb_grpc.BurnoutRiskStub(channel)
    name_of = {f.key: f.name for f in FEATURE_FIELDS}

    @FUZZ
    @given(changes=st.lists(st.none() | TOUCHED_EMPLOYEE, min_size=1, max_size=5))
    def send(changes):
        employees, touched, echoed = [], set(), []
        for index, change in enumerate(changes):
            employee = pb.Employee()
            employee.CopyFrom(GOOD_EMPLOYEE)
            if change is not None:
                replaced, cleared = change
                for key, value in replaced.items():
                    setattr(employee, key, value)
                    echoed += [str(value), repr(value)]
                for key in cleared:
                    employee.ClearField(key)
                touched |= {(index, name_of[key]) for key in [*replaced, *cleared]}
            employees.append(employee)
        try:
            answer = stub.Predict(pb.PredictRequest(records=employees), timeout=TIMEOUT_S)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (
                employees,
                error.code(),
                error.details(),
            )
            named = {(int(record), field) for record, field in NAMED_FIELD.findall(error.details())}
            assert named and named <= touched, (error.details(), touched)
            assert_clean_details(error, *echoed)
        else:
            assert len(answer.predictions) == len(employees)
            for prediction in answer.predictions:
                assert math.isclose(sum(prediction.probabilities.values()), 1.0, abs_tol=1e-6)

    send()
    assert_still_predicts(channel)


@pytest.mark.parametrize("alias", ["nope", "lightgbm-2", "x" * 200])
def test_an_unknown_alias_is_not_found(channel, alias):
    stub = pb_grpc.BurnoutRiskStub(channel)

    error = refusal(stub.Predict, pb.PredictRequest(records=[GOOD_EMPLOYEE], model=alias))

    assert error.code() == grpc.StatusCode.NOT_FOUND, (error.code(), error.details())
    assert_clean_details(error, alias, repr(alias))
    assert_still_predicts(channel)


def test_fuzzed_aliases_are_answered_or_refused_as_the_clients_error(channel):
    stub = pb_grpc.BurnoutRiskStub(channel)

    @FUZZ
    @given(alias=st.text(max_size=60))
    def send(alias):
        request = pb.PredictRequest(records=[GOOD_EMPLOYEE], model=alias)
        try:
            answer = stub.Predict(request, timeout=TIMEOUT_S)
        except grpc.RpcError as error:
            assert error.code() in CLIENT_ERRORS, (alias, error.code(), error.details())
            assert_clean_details(error, alias, repr(alias))
        else:
            assert alias in ("", "champion") and len(answer.predictions) == 1, alias

    send()
    assert_still_predicts(channel)


@pytest.mark.parametrize(
    "data",
    [
        b"\x12" + b"\x80\x80\x08" + b"x" * (128 * 1024),  # an alias of 128 KiB
        pb.PredictRequest(records=[GOOD_EMPLOYEE] * 2000).SerializeToString(),
        b"\xff" * (CAP + 1),
    ],
    ids=["long_alias", "many_records", "garbage"],
)
def test_a_message_over_the_cap_is_resource_exhausted(channel, data):
    assert len(data) > CAP

    error = refusal(raw(channel), data)

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (error.code(), error.details())
    assert_clean_details(error)
    assert_still_predicts(channel)
