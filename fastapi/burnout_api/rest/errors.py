"""The one place that turns errors into HTTP answers, all in one envelope `{"message", "detail"}`: malformed
body 400, wrong token 401, reload disabled 403, unknown alias or route 404, wrong method 405, explanations
asked of a model without an explainer 409 (field `explain` named), wrong content type 415, invalid records or
parameters 422 (record and field named), no model or unreachable registry 503.
Anything else is the server's fault: 500 with a generic message, the traceback in the log only."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from burnout_api.core import (
    ExplanationUnavailable,
    Forbidden,
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    NoModelYet,
    Unauthorized,
    UnknownAlias,
    UnknownModel,
)
from fastapi import FastAPI, Request

log = logging.getLogger(__name__)
STATUS = {  # subclasses before their base: the first match wins
    MalformedBody: 400,
    ExplanationUnavailable: 409,
    InvalidInput: 422,
    UnknownAlias: 404,
    UnknownModel: 404,
    NoModelYet: 503,
    ModelUnavailable: 503,
    Unauthorized: 401,
    Forbidden: 403,
}


def error_item(record: int | None, field: str | None, kind: str, message: str) -> dict:
    return {"record": record, "field": field, "type": kind, "msg": message}


def envelope(message: str, status: int, detail: list | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"message": message, "detail": detail or []}, status_code=status, headers=headers)


async def _core_error(_: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS.items() if isinstance(exc, cls))
    detail = None
    if isinstance(exc, InvalidInput):
        detail = [
            {"record": e.record, "field": e.field, "type": e.type, "msg": e.message} for e in exc.errors
        ]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return envelope(str(exc), status, detail, headers)


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
    for cls in STATUS:
        app.add_exception_handler(cls, _core_error)
    app.add_exception_handler(HTTPException, _framework_error)
    app.add_exception_handler(RequestValidationError, _parameter_error)
    app.add_exception_handler(Exception, _unexpected)
