"""The registered model's aliases and the metadata of the versions they serve."""

from __future__ import annotations

from burnout_api.core import InferenceCore
from burnout_api.rest.deps import get_core
from burnout_api.schemas import ErrorResponse, ModelInfo, ModelList
from fastapi import APIRouter, Depends

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList, summary="Aliases, versions and metadata of loaded models")
async def list_models(core: InferenceCore = Depends(get_core)) -> dict:
    return {"registered_model": core.store.name, "models": core.list_models()}


@router.get(
    "/models/{alias}",
    response_model=ModelInfo,
    summary="One alias: version, family, run, metrics",
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def describe_model(alias: str, core: InferenceCore = Depends(get_core)) -> dict:
    # A plain def: FastAPI runs it in a worker thread, since it may load the model from MLflow.
    return core.describe_model(alias)
