"""The one place that turns core errors into HTTP answers: bad input 422, unknown alias 404, no model or
unreachable registry 503, wrong token 401; every body says what went wrong and where."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from burnout_api.core import InvalidInput, ModelUnavailable, NoModelYet, Unauthorized, UnknownAlias
from fastapi import FastAPI, Request

STATUS = {InvalidInput: 422, UnknownAlias: 404, NoModelYet: 503, ModelUnavailable: 503, Unauthorized: 401}


async def _invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
    detail = [{"record": e.record, "field": e.field, "type": e.type, "msg": e.message} for e in exc.errors]
    return JSONResponse({"message": str(exc), "detail": detail}, status_code=422)


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS.items() if isinstance(exc, cls))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"message": str(exc), "detail": []}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidInput, _invalid_input)
    for cls in (UnknownAlias, NoModelYet, ModelUnavailable, Unauthorized):
        app.add_exception_handler(cls, _refused)
