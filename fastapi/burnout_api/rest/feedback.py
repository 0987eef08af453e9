"""POST /feedback: observed outcomes for earlier predictions, checked with the data contract's rules and
stored in the lake before the answer (see `burnout_api.feedback`)."""

from __future__ import annotations

import anyio
from fastapi.responses import JSONResponse

from burnout_api.rest.predict import DirectRoute, require_json
from burnout_api.schemas import ErrorResponse
from burnout_api.validation import decode_json
from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["feedback"], route_class=DirectRoute)
_OUTCOME = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "request_id": {"type": "string", "description": "The prediction's request id (its answer's)."},
        "record_index": {"type": "integer", "minimum": 0, "default": 0, "description": "Its place."},
        "Employee ID": {"type": "string", "description": "Or: the employee the predictions were about..."},
        "from": {"type": "string", "format": "date-time", "description": "...logged from (ISO 8601)..."},
        "to": {"type": "string", "format": "date-time", "description": "...to (default: now)."},
        "Burn Rate": {"type": "number", "minimum": 0, "maximum": 1, "description": "The observed rate."},
        "class": {"type": "string", "enum": ["Low", "Medium", "High"], "description": "Or only the class."},
    },
}
_EXAMPLES = {
    "by_request": {
        "summary": "The outcome of record 0 of a request",
        "value": [{"request_id": "0f6c2a1e9b7d-2a", "record_index": 0, "Burn Rate": 0.52}],
    },
    "by_employee": {
        "summary": "Every prediction about an employee this week: a class only",
        "value": [{"Employee ID": "fffe32003000360033003200", "from": "2026-12-01", "class": "High"}],
    },
}
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "minItems": 1, "items": _OUTCOME},
            "examples": _EXAMPLES,
        }
    },
}
_STORED = {
    "description": "Every outcome is stored (in the lake, bucket BURNOUT_FEEDBACK_BUCKET); model_quality "
    "joins them with the predictions. Posting the same outcome again is harmless.",
    "content": {
        "application/json": {
            "example": {"accepted": 1, "feedback_id": "20261205T101500-1a2b3c4d", "files": 1}
        }
    },
}


@router.post(
    "/feedback",
    summary="Observed outcomes (Burn Rate or class) of earlier predictions, by request id or by employee",
    response_class=Response,
    openapi_extra={"requestBody": _BODY},
    responses={
        200: _STORED,
        400: {"model": ErrorResponse, "description": "The body is not JSON."},
        413: {"model": ErrorResponse, "description": "The body is over BURNOUT_MAX_BODY_BYTES."},
        415: {"model": ErrorResponse, "description": "The body is not application/json."},
        422: {
            "model": ErrorResponse,
            "description": "An invalid outcome (record and field named, up to BURNOUT_MAX_BATCH of them): "
            "none of the batch is stored.",
        },
        503: {"model": ErrorResponse, "description": "The lake did not take the write: nothing was stored."},
    },
)
async def feedback(request: Request) -> Response:
    require_json(request)
    body = await request.body()
    store = request.app.state.feedback
    stored = await anyio.to_thread.run_sync(lambda: store.accept(decode_json(body)))
    return JSONResponse(stored)
