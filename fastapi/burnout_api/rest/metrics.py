"""Prometheus metrics, counted in the core."""

from __future__ import annotations

from burnout_api.core import InferenceCore
from burnout_api.rest.deps import get_core
from fastapi import APIRouter, Depends, Response

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(core: InferenceCore = Depends(get_core)) -> Response:
    return Response(core.metrics.render(), media_type=core.metrics.content_type)
