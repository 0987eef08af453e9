"""strawberry's FastAPI router, with every POST answered whole in a worker thread.

strawberry parses the body, then parses, validates and executes the document on the event loop; a large or
costly request froze /health for seconds. Here the loop only receives the body; decoding, the limits, the
execution and the encoding of the answer run in a thread, so the loop stays free for everyone else. GET
(GraphiQL) and the errors strawberry itself raises are left to strawberry.
"""

from __future__ import annotations

import anyio
from fastapi.responses import HTMLResponse, Response
from starlette.requests import Request
from strawberry.exceptions import MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from burnout_api.graphql_api.errors import extensions_of
from burnout_api.graphql_api.ide import render_graphiql_page
from burnout_api.validation import InvalidInput, check_batch_size, decode_json
from burnout_base.settings import Settings


class RequestRefused(Exception):
    """A POST that cannot be executed at all: its HTTP status and, in GraphQL's error shape, why."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


class OffLoopGraphQLRouter(GraphQLRouter):
    def __init__(self, schema, settings: Settings, **kwargs) -> None:
        super().__init__(schema, **kwargs)
        self.settings = settings
        self._graphiql_page = render_graphiql_page()

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from the service's own assets (strawberry's page loads them from unpkg)."""
        return HTMLResponse(self._graphiql_page)

    async def run(self, request, context=UNSET, root_value=UNSET):
        if not isinstance(request, Request) or request.method != "POST":
            return await super().run(request, context=context, root_value=root_value)
        body = await request.body()  # bounded by BodySizeLimit, read without blocking the loop
        content_type = request.headers.get("content-type", "")
        status, answer = await anyio.to_thread.run_sync(self._answer, body, content_type, context, root_value)
        return Response(answer, status_code=status, media_type="application/json")

    def _answer(self, body: bytes, content_type: str, context, root_value) -> tuple[int, bytes]:
        try:
            result = self._execute(body, content_type, context, root_value)
        except RequestRefused as refused:
            error = {"message": str(refused), "extensions": {"code": refused.code}}
            return refused.status, self._encode({"data": None, "errors": [error]})
        except InvalidInput as exc:  # the batch limit: answered as the resolver's own check would be
            error = {"message": str(exc), "extensions": extensions_of(exc)}
            return 200, self._encode({"data": None, "errors": [error]})
        return 200, self._encode(process_result(result))

    def _execute(self, body: bytes, content_type: str, context, root_value) -> ExecutionResult:
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise RequestRefused(415, "UNSUPPORTED_MEDIA_TYPE", "POST /graphql takes application/json")
        try:
            data = decode_json(body)
        except InvalidInput as exc:
            raise RequestRefused(400, "BAD_REQUEST", str(exc)) from None
        query, variables, operation = _operation(data)
        limit = self.settings.graphql_max_query_chars
        if len(query) > limit:  # characters, at most 4 bytes each: cheap, and enough to bound the parse
            raise RequestRefused(
                413,
                "QUERY_TOO_LARGE",
                f"the query is over {limit} characters (BURNOUT_GRAPHQL_MAX_QUERY_CHARS)",
            )
        _check_batch_sizes(variables, self.settings.max_batch)
        try:
            return self.schema.execute_sync(
                query,
                variable_values=variables,
                context_value=context,
                root_value=root_value,
                operation_name=operation,
                allowed_operation_types={OperationType.QUERY},
            )
        except CannotGetOperationTypeError as exc:  # e.g. an operationName the document does not have
            raise RequestRefused(400, "BAD_REQUEST", exc.as_http_error_reason()[:300]) from None
        except InvalidOperationTypeError as exc:  # a mutation or subscription: there are none
            raise RequestRefused(400, "BAD_REQUEST", exc.as_http_error_reason("POST")) from None
        except MissingQueryError:
            raise RequestRefused(400, "BAD_REQUEST", "no GraphQL query found in the request") from None

    def _encode(self, payload: dict) -> bytes:
        encoded = self.encode_json(payload)
        return encoded.encode() if isinstance(encoded, str) else encoded


def _operation(data: object) -> tuple[str, dict | None, str | None]:
    """The query, variables and operation name of a decoded body, each checked for its type."""
    if not isinstance(data, dict):
        raise RequestRefused(400, "BAD_REQUEST", "the body must be a JSON object with a `query`")
    query, variables, operation = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise RequestRefused(400, "BAD_REQUEST", "`query` must be a non-empty string")
    if not isinstance(variables, (dict, type(None))):
        raise RequestRefused(400, "BAD_REQUEST", "`variables` must be an object or null")
    if not isinstance(operation, (str, type(None))):
        raise RequestRefused(400, "BAD_REQUEST", "`operationName` must be a string or null")
    return query, variables, operation


def _check_batch_sizes(variables: dict | None, max_batch: int) -> None:
    """The batch limit, before graphql-core converts a single record: no list in the variables may be longer
    (one predict per request, so that bounds the records scored)."""
    for value in (variables or {}).values():
        if isinstance(value, list):
            check_batch_size(len(value), max_batch)
