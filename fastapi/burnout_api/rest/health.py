"""Liveness (the process answers) and readiness (a champion is loaded)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from burnout_api.core import InferenceCore
from burnout_api.rest.deps import get_core
from burnout_api.schemas import Readiness
from fastapi import APIRouter, Depends

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: 200 when a champion is loaded, else 503 with the reason",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
)
async def ready(core: InferenceCore = Depends(get_core)) -> JSONResponse:
    body = core.readiness()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
