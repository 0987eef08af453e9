"""The one place that turns errors into the Open Inference Protocol's REST answers, `{"error": "<message>"}`:
a request the client must fix 400 (as V2 clients expect; our own /predict says 422 for invalid records), an
unknown model or version 404, explanations asked of a model that has none 409, no model 503; anything else
500 with a generic message, the traceback in the log only. (Its gRPC side answers with `grpc_api.errors`.)"""

from __future__ import annotations

import logging

import msgspec
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from burnout_api.core import ErrorCode, error_code
from burnout_api.error_codes import describe_error
from fastapi import Response

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.MALFORMED_BODY: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_ALIAS: 404,
    ErrorCode.UNKNOWN_MODEL: 404,
    ErrorCode.EXPLANATION_UNAVAILABLE: 409,
    ErrorCode.NO_MODEL_YET: 503,
    ErrorCode.MODEL_UNAVAILABLE: 503,
    ErrorCode.STREAM_UNAVAILABLE: 503,
    ErrorCode.LAKE_UNAVAILABLE: 503,
}


def error_response(exc: Exception) -> Response:
    """Any error as the protocol's `{"error": ...}`: ours by their code, the framework's by their status."""
    code = error_code(exc)
    if code is not None:
        status, message = STATUS[code], describe_error(exc)
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    elif isinstance(exc, RequestValidationError):
        status, message = 400, f"invalid request: {exc.errors()[0]['msg'] if exc.errors() else exc}"
    else:
        log.error("unexpected error in a V2 request", exc_info=exc)
        status, message = 500, "internal error: the service logged it"
    return Response(_encode({"error": message}), status, media_type="application/json")
