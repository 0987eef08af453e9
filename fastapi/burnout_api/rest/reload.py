"""Re-read the aliases now instead of at the next poll (the training DAG calls it after a promotion)."""

from __future__ import annotations

import secrets

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from burnout_api.core import Forbidden, InferenceCore, ModelUnavailable, Unauthorized
from burnout_api.rest.deps import get_core
from burnout_api.schemas import ErrorResponse
from fastapi import APIRouter, Depends, Request

router = APIRouter(tags=["models"])
bearer = HTTPBearer(auto_error=False, description="The service's BURNOUT_RELOAD_TOKEN.")


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    """The protected routes' check (a dependency): the bearer token must be BURNOUT_RELOAD_TOKEN; without a
    configured token they are disabled (403), fail closed."""
    operation = f"{request.method} {request.url.path}"
    expected = request.app.state.settings.reload_token
    if expected is None:  # fail closed: no token configured means nobody may call them
        raise Forbidden(f"{operation} is disabled: the service was started without BURNOUT_RELOAD_TOKEN")
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Unauthorized(f"{operation} needs header 'Authorization: Bearer <BURNOUT_RELOAD_TOKEN>'")


@router.post(
    "/reload",
    summary="Reload the aliases from the registry now",
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    dependencies=[Depends(require_token)],
)
def reload(core: InferenceCore = Depends(get_core)) -> dict:
    snapshot = core.refresh_everywhere()
    if snapshot.mlflow != "reachable":
        raise ModelUnavailable(f"MLflow unreachable, still serving the loaded models: {snapshot.last_error}")
    return {"readiness": core.readiness(), "models": core.list_models()}
