"""The service's one error vocabulary: why a request was not answered, whatever the protocol. Every error the
core raises carries one of these codes (`code` on its class); each transport maps them through one table of
its own (rest/errors.py, grpc_api/errors.py, graphql_api/errors.py, v2/errors.py). A leaf module, so that
validation and the core can both use it."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A protocol-neutral reason; the value is also the `kind` label of burnout_predict_errors_total."""

    INVALID_INPUT = "invalid_input"  # records or parameters break the contract (record and field named)
    MALFORMED_BODY = "malformed_body"  # the body or message cannot be decoded at all
    EXPLANATION_UNAVAILABLE = "explanation_unavailable"  # valid request, but this model cannot explain
    NO_MODEL_YET = "no_model"  # no champion registered yet
    UNKNOWN_ALIAS = "unknown_alias"
    UNKNOWN_MODEL = "unknown_model"  # a model name or version (V2 paths) this service does not serve
    MODEL_UNAVAILABLE = "model_unavailable"  # the alias exists, its model is not loaded (MLflow down, ...)
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    STREAM_UNAVAILABLE = "stream_unavailable"  # no Redis configured, or it does not answer
    LAKE_UNAVAILABLE = "lake_unavailable"  # the lake refused a write the answer depends on (feedback)


def error_code(exc: BaseException | None) -> ErrorCode | None:
    """The code of one of our errors; None for anything else (the server's fault: 500, INTERNAL)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, ErrorCode) else None


def describe_error(exc: BaseException) -> str:
    """Every problem of an error in one line: each item of its `errors` (record and field named) when it
    lists them, else its message."""
    items = getattr(exc, "errors", None)
    return "; ".join(item.describe() for item in items) if items else str(exc)
