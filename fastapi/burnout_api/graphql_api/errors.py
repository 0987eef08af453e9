"""The one place that maps core errors to GraphQL errors: a message naming record and field, and
`extensions.code` (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE) plus the itemised
`extensions.errors`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from burnout_api.core import ExplanationUnavailable, InvalidInput, ModelUnavailable, NoModelYet, UnknownAlias

log = logging.getLogger(__name__)
CODES = {  # subclasses before their base: the first match wins
    ExplanationUnavailable: "FAILED_PRECONDITION",
    InvalidInput: "INVALID_ARGUMENT",
    UnknownAlias: "NOT_FOUND",
    NoModelYet: "UNAVAILABLE",
    ModelUnavailable: "UNAVAILABLE",
}


def code_of(exc: BaseException | None) -> str | None:
    return next((code for cls, code in CODES.items() if isinstance(exc, cls)), None)


def extensions_of(exc: BaseException) -> dict:
    """The GraphQL `extensions` of a core error: its code and, for bad input, the itemised errors."""
    extensions: dict = {"code": code_of(exc)}
    if isinstance(exc, InvalidInput):
        extensions["errors"] = [
            {"record": e.record, "field": e.field, "type": e.type, "msg": e.message} for e in exc.errors
        ]
    return extensions


def _mapped(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    code = code_of(original)
    if code is None:
        return error
    extensions = {**(error.extensions or {}), **extensions_of(original)}
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


class CoreErrors(SchemaExtension):
    """Adds the protocol-neutral error code of core errors to the GraphQL errors they cause."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [_mapped(e) for e in result.errors]


def is_expected(error: GraphQLError) -> bool:
    """Errors the caller caused (a malformed query or variables, which have no path, or a core refusal): not
    worth a traceback in the log."""
    return error.path is None or code_of(error.original_error) is not None
