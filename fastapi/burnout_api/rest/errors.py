"""The one place that turns errors into HTTP answers, all in one envelope `{"message", "detail"}`: malformed
body 400, wrong token 401, reload disabled 403, unknown alias or route 404, wrong method 405, explanations
asked of a model without an explainer 409 (field `explain` named), wrong content type 415, invalid records or
parameters 422 (record and field named), no model, unreachable registry or record stream 503: `STATUS`, by the
errors' codes.
Anything else is the server's fault: 500 with a generic message, the traceback in the log only."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from burnout_api.core import SERVICE_ERRORS, ErrorCode, error_code
from fastapi import FastAPI, Request

log = logging.getLogger(__name__)
STATUS = {
    ErrorCode.MALFORMED_BODY: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_ALIAS: 404,
    ErrorCode.UNKNOWN_MODEL: 404,
    ErrorCode.EXPLANATION_UNAVAILABLE: 409,
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.NO_MODEL_YET: 503,
    ErrorCode.MODEL_UNAVAILABLE: 503,
    ErrorCode.STREAM_UNAVAILABLE: 503,
    ErrorCode.LAKE_UNAVAILABLE: 503,
}


def error_item(record: int | None, field: str | None, kind: str, message: str) -> dict:
    return {"record": record, "field": field, "type": kind, "msg": message}


def envelope(message: str, status: int, detail: list | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"message": message, "detail": detail or []}, status_code=status, headers=headers)


def error_items(exc: BaseException) -> list[dict]:
    """The itemised problems of an error that lists them (record and field named), else none."""
    return [error_item(e.record, e.field, e.type, e.message) for e in getattr(exc, "errors", ())]


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    status = STATUS[error_code(exc)]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return envelope(str(exc), status, error_items(exc), headers)


async def _framework_error(_: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such route 404, wrong method 405, ...) in our envelope."""
    return envelope(str(exc.detail), exc.status_code, headers=exc.headers)


async def _parameter_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's checks of parameters and bodies of the routes that declare them."""
    detail = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        detail.append(
            {"record": None, "field": ".".join(location) or None, "type": error["type"], "msg": error["msg"]}
        )
    first = detail[0]["msg"] if detail else "invalid request"
    return envelope(f"invalid request: {first}", 422, detail)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope("internal error: the service logged it", 500)


def install_error_handlers(app: FastAPI) -> None:
    for cls in SERVICE_ERRORS:
        app.add_exception_handler(cls, _service_error)
    app.add_exception_handler(HTTPException, _framework_error)
    app.add_exception_handler(RequestValidationError, _parameter_error)
    app.add_exception_handler(Exception, _unexpected)
