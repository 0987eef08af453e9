"""PUT and DELETE /aliases/challenger: an operator points alias `challenger` (the version the live evidence
compares with the champion) at a version, or removes it. Protected like POST /reload (same bearer token);
after the change the core re-reads the aliases at once, so the answer shows what is served."""

from __future__ import annotations

import logging

import anyio

from burnout_api.core import InferenceCore, ModelUnavailable, error_code
from burnout_api.rest.deps import get_core
from burnout_api.rest.reload import require_token
from burnout_api.schemas import ErrorResponse
from burnout_api.validation import FieldError, InvalidInput, decode_json
from fastapi import APIRouter, Depends, Request
from modeling.registry_names import CHALLENGER

log = logging.getLogger(__name__)
router = APIRouter(tags=["models"], dependencies=[Depends(require_token)])
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["version"],
                "properties": {
                    "version": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "A registered version of the model, not the champion's.",
                    }
                },
            },
            "example": {"version": 7},
        }
    },
}
_STATE = {
    "description": "The alias after the change, every alias of the model, and the models now served.",
    "content": {
        "application/json": {
            "example": {
                "alias": CHALLENGER,
                "version": 7,
                "aliases": {"champion": 6, CHALLENGER: 7, "lightgbm": 7},
                "models": [],
            }
        }
    },
}
_REFUSALS = {
    401: {"model": ErrorResponse, "description": "No or wrong bearer token (BURNOUT_RELOAD_TOKEN)."},
    403: {"model": ErrorResponse, "description": "The service was started without BURNOUT_RELOAD_TOKEN."},
}


@router.put(
    f"/aliases/{CHALLENGER}",
    summary="Point alias challenger at a model version (not the champion's)",
    openapi_extra={"requestBody": _BODY},
    responses={
        200: _STATE,
        **_REFUSALS,
        400: {"model": ErrorResponse, "description": "The body is not JSON."},
        404: {"model": ErrorResponse, "description": "The registered model has no such version."},
        422: {
            "model": ErrorResponse,
            "description": "Field `version` missing, not a positive integer, or the champion's version.",
        },
        503: {"model": ErrorResponse, "description": "MLflow is unreachable: nothing was changed."},
    },
)
async def set_challenger(request: Request, core: InferenceCore = Depends(get_core)) -> dict:
    version = read_version(await request.body())
    # Off the event loop: MLflow calls, and the refresh may load the version.
    return await anyio.to_thread.run_sync(_changed, core, lambda: core.store.set_alias(CHALLENGER, version))


@router.delete(
    f"/aliases/{CHALLENGER}",
    summary="Remove alias challenger (nothing is compared with the champion until promotion sets one)",
    responses={
        200: _STATE,
        **_REFUSALS,
        503: {"model": ErrorResponse, "description": "MLflow is unreachable: nothing was changed."},
    },
)
def clear_challenger(core: InferenceCore = Depends(get_core)) -> dict:
    # A plain def: FastAPI runs it in a worker thread.
    return _changed(core, lambda: core.store.delete_alias(CHALLENGER))


def read_version(body: bytes) -> int:
    """The body's `version`: a positive integer (MalformedBody when it is not JSON, InvalidInput naming
    `version` otherwise)."""
    payload = decode_json(body)
    if not isinstance(payload, dict):
        problem = FieldError(None, None, "object_type", 'the body must be a JSON object like {"version": 7}')
        raise InvalidInput([problem])
    unknown = sorted(str(key) for key in payload if key != "version")
    if unknown:
        problems = [
            FieldError(None, key, "extra_forbidden", "unknown field: only version") for key in unknown
        ]
        raise InvalidInput(problems)
    if "version" not in payload:
        raise InvalidInput([FieldError(None, "version", "missing", "field required")])
    version = payload["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problem = FieldError(
            None, "version", "positive_integer", f"must be a positive integer, got {version!r}"
        )
        raise InvalidInput([problem])
    return version


def _changed(core: InferenceCore, change) -> dict:
    """Apply `change` (a ModelStore call returning the aliases after it), then have the core serve them."""
    try:
        aliases = change()
    except Exception as exc:
        if error_code(exc) is not None:  # ours: unknown version, the champion's version
            raise
        log.error("alias %s could not be changed", CHALLENGER, exc_info=exc)
        raise ModelUnavailable(
            f"alias {CHALLENGER} unchanged: the registry could not be reached (the service log says why)"
        ) from None
    core.refresh_everywhere()
    return {
        "alias": CHALLENGER,
        "version": aliases.get(CHALLENGER),
        "aliases": aliases,
        "models": core.list_models(),
    }
