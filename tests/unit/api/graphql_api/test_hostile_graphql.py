"""GraphQL under hostile input, on a real server: documents with thousands of aliases or tokens, nested
thousands deep, or sent with invalid UTF-8 are refused (HTTP 200 with `errors`, or a 4xx), never a 5xx;
whatever hypothesis sends, a good query is still answered afterwards; and while an expensive document is being
worked on, /health and /ready still answer within milliseconds."""

from __future__ import annotations

import json
import re
import socket
import statistics
import time

import httpx
import pytest
import strawberry
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries
from strawberry.schema.config import StrawberryConfig

from burnout_api.features import FEATURE_FIELDS
from burnout_api.graphql_api.schema import Query
from burnout_api.schemas import EXAMPLE_RECORD
from burnout_base.settings import Settings

from ..hostile_service import FUZZ, leaks, serving_http

CAP = 1024 * 1024
PREDICT = "query($records: [EmployeeInput!]!) { predict(records: $records) { predictions { class } } }"
GOOD_VARIABLES = {"records": [{f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS}]}
JSON = {"Content-Type": "application/json"}
DEEP = 5000


@pytest.fixture
def store(make_store, lightgbm_pipeline):
    return make_store({1: lightgbm_pipeline}, {"champion": 1})


@pytest.fixture
def client(make_settings, store):
    with serving_http(make_settings(max_body_bytes=CAP), store) as client:
        yield client


def many_aliases(count: int, selection: str = "__typename") -> str:
    return "{ " + " ".join(f"a{i}: {selection}" for i in range(count)) + " }"


def assert_no_server_error(answer: httpx.Response, document: str = "") -> None:
    """Under 500, and no GraphQL error shows a server path, a traceback or an exception class name (words of
    the client's own document aside)."""
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        for error in answer.json().get("errors") or []:
            assert leaks(error["message"], *re.findall(r"\w+", document)) == [], error


def assert_refused(answer: httpx.Response, document: str = "") -> None:
    """Refused as the client's error: a 4xx, or 200 with `errors` and no data."""
    assert_no_server_error(answer, document)
    if answer.status_code == 200:
        body = answer.json()
        assert body.get("errors") and not body.get("data"), str(body)[:300]
    else:
        assert 400 <= answer.status_code < 500, answer.status_code


def assert_still_answers(client: httpx.Client) -> None:
    """A good GraphQL query, and a good REST request, are answered with a prediction."""
    answer = client.post("/graphql", json={"query": PREDICT, "variables": GOOD_VARIABLES})
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    body = answer.json()
    assert not body.get("errors") and len(body["data"]["predict"]["predictions"]) == 1, body
    assert client.post("/predict", json=[EXAMPLE_RECORD]).status_code == 200


def test_a_good_query_is_answered(client):
    assert_still_answers(client)


@pytest.mark.parametrize(
    "document",
    [
        many_aliases(5000),
        many_aliases(2000, "health { status }"),
        many_aliases(500, "models { alias family }"),
    ],
    ids=["5000_typename_aliases", "2000_health_aliases", "500_models_aliases"],
)
def test_a_document_with_thousands_of_aliases_is_refused(client, document):
    answer = client.post("/graphql", json={"query": document})

    assert_refused(answer, document)
    assert_still_answers(client)


@pytest.mark.parametrize(
    "document",
    [
        "{ " + "health { status } " * 25_000 + "}",
        "{ " + "__typename " * 60_000 + "}",
        "query { health { status } } "
        + " ".join(f"fragment f{i} on Query {{ __typename }}" for i in range(8000)),
    ],
    ids=["100k_tokens_of_repeated_fields", "60k_repeated_typenames", "8000_fragments"],
)
def test_a_document_of_tens_of_thousands_of_tokens_is_refused(client, document):
    assert len(document.encode()) < CAP

    answer = client.post("/graphql", json={"query": document})

    assert_refused(answer, document)
    assert_still_answers(client)


@pytest.mark.parametrize(
    "document",
    [
        "{ health" + " { health" * DEEP + " }" * (DEEP + 1),
        "{ __schema { types { fields { type " + "{ ofType " * 300 + "{ name }" + " }" * 300 + " } } } }",
        "{ " + "... on Query { " * DEEP + "__typename" + " }" * DEEP + " }",
    ],
    ids=["fields_nested_thousands_deep", "introspection_300_deep", "fragments_nested_thousands_deep"],
)
def test_a_document_nested_too_deep_is_refused(client, document):
    answer = client.post("/graphql", json={"query": document})

    assert_refused(answer, document)
    assert_still_answers(client)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"query": PREDICT}).encode()[:-1] + b', "variables": {"records": [{"gender": "\xff"}]}}',
        b'{"query": "query($a: String!) { model(alias: $a) { alias } }", "variables": {"a": "\xc0\xaf"}}',
        b'{"query": "{ __typen\xffame }"}',
        b'{"query": "{ __typename }", "operationName": "\xfe"}',
    ],
    ids=["in_a_record_variable", "overlong_in_a_string_variable", "in_the_document", "in_the_operation_name"],
)
def test_invalid_utf8_is_a_4xx(client, body):
    answer = client.post("/graphql", content=body, headers=JSON)

    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert_still_answers(client)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[" * DEEP + b"]" * DEEP,
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
        b'{"query": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"query": 5}',
        b'{"query": "{ __typename }", "variables": [1]}',
        b'{"query": "query($a: String!) { model(alias: $a) { alias } }", "variables": {"a": "\\ud800"}}',
        json.dumps({"query": PREDICT, "variables": {"records": [{"team_size": 10**400}]}}).encode(),
    ],
    ids=[
        "empty",
        "truncated",
        "arrays_nested_thousands_deep",
        "variables_nested_thousands_deep",
        "query_nested_thousands_deep",
        "query_not_a_string",
        "variables_not_an_object",
        "lone_surrogate_escape",
        "integer_of_400_digits",
    ],
)
def test_a_malformed_request_is_refused(client, body):
    answer = client.post("/graphql", content=body, headers=JSON)

    assert_refused(answer)
    assert_still_answers(client)


def test_fuzzed_bytes_never_get_a_5xx(client):
    @FUZZ
    @given(body=st.binary(max_size=1024) | st.binary(max_size=200).map(lambda b: b'{"query": "' + b + b'"}'))
    def send(body):
        assert_no_server_error(client.post("/graphql", content=body, headers=JSON))

    send()
    assert_still_answers(client)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_fuzzed_documents_and_variables_never_get_a_5xx(client):
    documents = st.text(max_size=200) | st.sampled_from([PREDICT, "{ model(alias: $a) { alias } }"])

    @FUZZ
    @given(document=documents, variables=JSON_VALUES, operation=st.none() | st.text(max_size=10))
    def send(document, variables, operation):
        body = {"query": document, "variables": variables, "operationName": operation}
        assert_no_server_error(client.post("/graphql", json=body), document)

    send()
    assert_still_answers(client)


RECORD_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=3)
)


def test_fuzzed_record_variables_are_answered_or_refused(client):
    keys = [f.key for f in FEATURE_FIELDS]
    records = st.lists(
        st.dictionaries(st.sampled_from(keys), RECORD_VALUES, max_size=3).map(
            lambda changes: {**GOOD_VARIABLES["records"][0], **changes}
        ),
        min_size=1,
        max_size=4,
    )

    @FUZZ
    @given(records=records)
    def send(records):
        answer = client.post("/graphql", json={"query": PREDICT, "variables": {"records": records}})
        assert answer.status_code == 200, (records, answer.status_code, answer.text[:300])
        body = answer.json()
        if body.get("errors"):
            assert_no_server_error(answer, json.dumps(records))
        else:
            assert len(body["data"]["predict"]["predictions"]) == len(records)

    send()
    assert_still_answers(client)


def sdl() -> str:
    return strawberry.Schema(query=Query, config=StrawberryConfig(auto_camel_case=False)).as_str()


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=str)
def test_queries_from_the_schema_never_get_a_5xx(client, mode):
    @FUZZ
    @given(document=queries(sdl(), mode=mode))
    def send(document):
        answer = client.post("/graphql", json={"query": document})
        assert_no_server_error(answer, document)
        if mode is Mode.POSITIVE:
            assert answer.status_code == 200, (document, answer.status_code)

    send()
    assert_still_answers(client)


def test_fuzzed_get_queries_never_get_a_5xx(client):
    @FUZZ
    @given(document=st.text(max_size=200), variables=st.none() | st.text(max_size=50))
    def send(document, variables):
        params = {"query": document} if variables is None else {"query": document, "variables": variables}
        assert_no_server_error(client.get("/graphql", params=params), document)

    send()
    assert_still_answers(client)


def max_batch_in_variables() -> dict:
    """The largest batch a client may send (max_batch records in a variable): legitimately expensive."""
    return {"query": PREDICT, "variables": {"records": GOOD_VARIABLES["records"] * Settings().max_batch}}


EXPENSIVE = {
    "20k_aliases": lambda: {"query": many_aliases(20_000)},
    "10k_repeated_fields": lambda: {"query": "{ " + "health { status } " * 10_000 + "}"},
    "max_batch_in_variables": max_batch_in_variables,
}
TRIES = 5
FAST_S = 0.1


def start_graphql_request(port: int, body: bytes) -> socket.socket:
    """Send a whole POST /graphql on a connection of its own; the answer is left to come."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def status_of(sock: socket.socket) -> int:
    """Read the answer to its end and return its status code."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("build_request", list(EXPENSIVE.values()), ids=list(EXPENSIVE))
def test_health_stays_fast_while_an_expensive_graphql_request_runs(make_settings, store, build_request):
    expensive = json.dumps(build_request()).encode()
    took: dict[str, list[float]] = {"/health": [], "/ready": []}
    statuses = []
    with serving_http(make_settings(), store) as client:
        for _ in range(TRIES):
            pending = start_graphql_request(client.base_url.port, expensive)
            time.sleep(0.05)  # the service is reading, parsing or checking it now
            for path, durations in took.items():
                started = time.perf_counter()
                answer = client.get(path)
                durations.append(time.perf_counter() - started)
                assert answer.status_code == 200, (path, answer.status_code)
            statuses.append(status_of(pending))

        medians = {path: round(statistics.median(durations), 4) for path, durations in took.items()}
        assert all(median < FAST_S for median in medians.values()), (medians, took)
        assert all(status < 500 for status in statuses), statuses
        assert_still_answers(client)
