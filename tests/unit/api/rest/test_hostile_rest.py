"""REST under hostile input, on a real server: malformed bodies are 400, the wrong content type 415, invalid
records 422 naming record and field, an unknown alias 404, no model 503; every refusal, the framework's
own 404 and 405 included, is one envelope `{"message", "detail"}` that shows nothing of the server; nothing
is ever a 5xx, whatever hypothesis or schemathesis send, and a good request is still answered afterwards."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from burnout_api.features import FEATURE_FIELDS
from burnout_api.schemas import EXAMPLE_RECORD

from ..hostile_service import FUZZ, assert_error_envelope, assert_still_predicts, serving_http

CAP = 256 * 1024
GOOD_BODY = json.dumps([EXAMPLE_RECORD]).encode()
JSON = {"Content-Type": "application/json"}
DEEP = 5000


@pytest.fixture
def store(make_store, lightgbm_pipeline):
    return make_store({1: lightgbm_pipeline}, {"champion": 1})


@pytest.fixture
def client(make_settings, store):
    with serving_http(make_settings(max_body_bytes=CAP), store) as client:
        yield client


def post_predict(client, body: bytes, headers: dict | None = None, **params):
    return client.post("/predict", content=body, headers=JSON if headers is None else headers, params=params)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"burnout, please",
        b'[{"Gender": "Female"',
        GOOD_BODY + b"}",
        b'[{"Gender": "\xff\xfe"}]',
        b'[{"Gender": "Fem\xc0\xafale"}]',
        b"[" * DEEP + b"]" * DEEP,
        b'{"a": ' * DEEP + b"1" + b"}" * DEEP,
        b'[{"Gender": ' + b"[" * DEEP + b"]" * DEEP + b"}]",
    ],
    ids=[
        "empty",
        "not_json",
        "truncated",
        "trailing_garbage",
        "invalid_utf8_in_a_string",
        "overlong_utf8_in_a_string",
        "arrays_nested_thousands_deep",
        "objects_nested_thousands_deep",
        "nested_thousands_deep_inside_a_record",
    ],
)
def test_malformed_body_is_400(client, body):
    answer = post_predict(client, body)

    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    assert_error_envelope(answer)
    assert_still_predicts(client)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=burnout",
        "application/xml",
        "application/octet-stream",
    ],
)
def test_a_body_that_is_not_declared_json_is_415(client, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}

    answer = post_predict(client, GOOD_BODY, headers=headers)

    assert answer.status_code == 415, (content_type, answer.status_code, answer.text[:300])
    assert_error_envelope(answer)
    assert_still_predicts(client)


def test_json_with_a_charset_parameter_is_accepted(client):
    answer = post_predict(client, GOOD_BODY, headers={"Content-Type": "application/json; charset=utf-8"})

    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1


@pytest.mark.parametrize(
    ("body", "record", "field"),
    [
        ([{**EXAMPLE_RECORD, "Team Size": True}], 0, "Team Size"),
        ([{**EXAMPLE_RECORD, "Team Size": 10**400}], 0, "Team Size"),
        ([EXAMPLE_RECORD, {**EXAMPLE_RECORD, "Designation": "five"}], 1, "Designation"),
        ([{**EXAMPLE_RECORD, "Gender": None}], 0, "Gender"),
        ([{**EXAMPLE_RECORD, "Gender": ["Female"]}], 0, "Gender"),
        ([{**EXAMPLE_RECORD, "Salary": 10}], 0, "Salary"),
        ([EXAMPLE_RECORD, 1], 1, None),
        ({"records": [EXAMPLE_RECORD]}, None, None),
        ([], None, None),
        ("Female", None, None),
    ],
    ids=[
        "boolean_for_an_integer",
        "integer_of_400_digits",
        "text_for_an_integer",
        "null_category",
        "list_for_a_category",
        "unknown_column",
        "record_not_an_object",
        "object_not_a_list",
        "empty_batch",
        "string_not_a_list",
    ],
)
def test_invalid_records_are_422_naming_record_and_field(client, body, record, field):
    answer = post_predict(client, json.dumps(body).encode())

    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    first = assert_error_envelope(answer)["detail"][0]
    assert (first["record"], first["field"]) == (record, field)
    assert_still_predicts(client)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"Gender": "\\ud800"}]',
        json.dumps([{**EXAMPLE_RECORD, "Sleep Hours": float("nan")}]).encode(),
        json.dumps([{**EXAMPLE_RECORD, "Sleep Hours": 1e308}]).replace("1e+308", "1e999").encode(),
    ],
    ids=["lone_surrogate_escape", "nan_literal", "number_beyond_double"],
)
def test_json_at_the_edge_of_the_grammar_is_refused_as_the_clients_error(client, body):
    answer = post_predict(client, body)

    assert answer.status_code in (400, 422), (answer.status_code, answer.text[:300])
    assert_error_envelope(answer)
    assert_still_predicts(client)


@pytest.mark.parametrize("alias", ["nope", "lightgbm-2", "x" * 200])
def test_an_unknown_alias_is_404(client, alias):
    answer = post_predict(client, GOOD_BODY, model=alias)

    assert answer.status_code == 404, (answer.status_code, answer.text[:300])
    assert_error_envelope(answer, alias, repr(alias))
    assert_still_predicts(client)


@pytest.mark.parametrize(
    "alias", ["../../../etc/passwd", "x" * 5000, "ünïcødé 🔥", "a\x00b", "%00", "{{7*7}}"]
)
def test_a_malformed_alias_is_refused_as_unknown_or_invalid(client, alias):
    answer = post_predict(client, GOOD_BODY, model=alias)

    assert answer.status_code in (404, 422), (answer.status_code, answer.text[:300])
    assert_error_envelope(answer, alias, repr(alias))
    assert_still_predicts(client)


def test_no_model_is_503_with_the_envelope(make_settings, make_store, lightgbm_pipeline):
    with serving_http(make_settings(), make_store({1: lightgbm_pipeline})) as client:
        answer = post_predict(client, GOOD_BODY)

        assert answer.status_code == 503
        assert "burnout_pipeline" in assert_error_envelope(answer)["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/models/champion/nope", 404),
        ("GET", "/predict", 405),
        ("DELETE", "/predict", 405),
        ("POST", "/health", 405),
        ("PUT", "/models", 405),
    ],
)
def test_the_frameworks_own_refusals_use_the_envelope(client, method, path, status):
    answer = client.request(method, path)

    assert answer.status_code == status
    assert_error_envelope(answer)


def test_fuzzed_bytes_are_refused_with_4xx(client):
    @FUZZ
    @given(body=st.binary(max_size=2048))
    def send(body):
        answer = post_predict(client, body)
        assert answer.status_code in (400, 422), (body, answer.status_code, answer.text[:300])
        assert_error_envelope(answer)

    send()
    assert_still_predicts(client)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_fuzzed_json_values_are_422(client):
    @FUZZ
    @given(value=JSON_VALUES)
    def send(value):
        answer = post_predict(client, json.dumps(value).encode())
        assert answer.status_code == 422, (value, answer.status_code, answer.text[:300])
        assert_error_envelope(answer, *_texts_in(value))

    send()
    assert_still_predicts(client)


FEATURE_NAMES = [f.name for f in FEATURE_FIELDS]
HOSTILE_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)
TOUCHED_RECORD = st.tuples(
    st.dictionaries(st.sampled_from(FEATURE_NAMES), HOSTILE_VALUES, max_size=3),
    st.sets(st.sampled_from(FEATURE_NAMES), max_size=2),
    st.dictionaries(st.text(min_size=1, max_size=12), HOSTILE_VALUES, max_size=2),
)


def test_fuzzed_records_are_answered_or_422_naming_the_touched_record_and_field(client):
    @FUZZ
    @given(changes=st.lists(st.one_of(st.none(), TOUCHED_RECORD), min_size=1, max_size=5))
    def send(changes):
        records, touched = [], set()
        for index, change in enumerate(changes):
            record = dict(EXAMPLE_RECORD)
            if change is not None:
                replaced, removed, extra = change
                record.update(replaced)
                for name in removed:
                    record.pop(name, None)
                record.update(extra)
                touched |= {(index, name) for name in [*replaced, *removed, *extra]}
            records.append(record)

        answer = post_predict(client, json.dumps(records).encode())

        assert answer.status_code in (200, 422), (records, answer.status_code, answer.text[:300])
        if answer.status_code == 200:
            assert len(answer.json()["predictions"]) == len(records)
        else:
            detail = assert_error_envelope(answer, *_texts_in(records))["detail"]
            assert detail and {(item["record"], item["field"]) for item in detail} <= touched, detail

    send()
    assert_still_predicts(client)


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)


def test_fuzzed_content_types_are_415_unless_json(client):
    @FUZZ
    @given(content_type=HEADER_TEXT | HEADER_TEXT.map(lambda rest: "application/json" + rest))
    def send(content_type):
        answer = post_predict(client, GOOD_BODY, headers={"Content-Type": content_type})
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == "application/json":
            assert answer.status_code in (200, 415), (content_type, answer.status_code)
        else:
            assert answer.status_code == 415, (content_type, answer.status_code, answer.text[:300])
            assert_error_envelope(answer)

    send()
    assert_still_predicts(client)


def test_fuzzed_aliases_are_refused_unless_they_exist(client):
    @FUZZ
    @given(alias=st.text(min_size=1, max_size=60))
    def send(alias):
        answer = post_predict(client, GOOD_BODY, model=alias)
        if alias == "champion":
            assert answer.status_code == 200
        else:
            assert answer.status_code in (404, 422), (alias, answer.status_code, answer.text[:300])
            assert_error_envelope(answer, alias, repr(alias))

    send()
    assert_still_predicts(client)


# /graphql has tests of its own; /ready answers its report, not an error, with its 503.
NOT_AN_ERROR_ENVELOPE = {"/ready"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_schemathesis_finds_no_server_error_and_no_stray_error_body(client, mode):
    schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json").exclude(path_regex="^/graphql")

    @FUZZ
    @given(case=schema.as_strategy(generation_mode=mode))
    def send(case):
        answer = case.call(base_url=str(client.base_url), timeout=30)
        where = (case.method, case.formatted_path, case.query, case.headers, str(case.body)[:300])
        assert answer.status_code < 500, (where, answer.status_code, answer.text[:300])
        if answer.status_code >= 400 and case.path.startswith("/v2"):  # the Open Inference Protocol's shape
            body = answer.json()
            assert isinstance(body, dict) and set(body) == {"error"}, (where, body)
            assert isinstance(body["error"], str), (where, body)
        elif answer.status_code >= 400 and case.path not in NOT_AN_ERROR_ENVELOPE:
            body = answer.json()
            assert isinstance(body, dict) and set(body) == {"message", "detail"}, (where, body)
            assert isinstance(body["message"], str) and isinstance(body["detail"], list), (where, body)

    send()
    assert_still_predicts(client)


def _texts_in(value: object) -> list[str]:
    """Every string inside a JSON value, as sent and as Python would quote it back."""
    if isinstance(value, str):
        return [value, repr(value)]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*_texts_in(key), *_texts_in(item))]
    if isinstance(value, list):
        return [text for item in value for text in _texts_in(item)]
    return []
