"""The one place that maps errors to GraphQL errors. Ours keep their message (record and field named) and get
`extensions.code` from `CODES` by their code, plus the itemised `extensions.errors`; an error of a resolver
that is not ours is masked: the client reads "internal error: the service logged it" with code INTERNAL, and
the traceback goes to the log (`BurnoutSchema.process_errors`, which sees the errors before this mapping)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from burnout_api.core import ErrorCode, error_code

log = logging.getLogger(__name__)
CODES = {
    ErrorCode.INVALID_INPUT: "INVALID_ARGUMENT",
    ErrorCode.MALFORMED_BODY: "INVALID_ARGUMENT",
    ErrorCode.EXPLANATION_UNAVAILABLE: "FAILED_PRECONDITION",
    ErrorCode.UNKNOWN_ALIAS: "NOT_FOUND",
    ErrorCode.UNKNOWN_MODEL: "NOT_FOUND",
    ErrorCode.NO_MODEL_YET: "UNAVAILABLE",
    ErrorCode.MODEL_UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.STREAM_UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.LAKE_UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.UNAUTHORIZED: "UNAUTHENTICATED",
    ErrorCode.FORBIDDEN: "FORBIDDEN",
}
INTERNAL_MESSAGE = "internal error: the service logged it"


def extensions_of(exc: BaseException) -> dict:
    """The GraphQL `extensions` of one of our errors: its code and, for bad input, the itemised errors."""
    extensions: dict = {"code": CODES[error_code(exc)]}
    items = getattr(exc, "errors", None)
    if items:
        extensions["errors"] = [
            {"record": e.record, "field": e.field, "type": e.type, "msg": e.message} for e in items
        ]
    return extensions


def _mapped(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if error_code(original) is not None:
        message, extensions = error.message, {**(error.extensions or {}), **extensions_of(original)}
    elif error.path is not None:  # raised while resolving, and not ours: the server's fault
        message, extensions, original = INTERNAL_MESSAGE, {"code": "INTERNAL"}, None
    else:  # the document or its variables: the caller's, worded by graphql-core
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


class CoreErrors(SchemaExtension):
    """Gives our errors their GraphQL code and masks the others (see the module's docstring)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [_mapped(e) for e in result.errors]


def is_expected(error: GraphQLError) -> bool:
    """Errors the caller caused (a malformed query or variables, which have no path, or one of ours): not
    worth a traceback in the log."""
    return error.path is None or error_code(error.original_error) is not None
