"""POST /predict_stream: checks the records like /predict, puts each one on the Redis requests stream and
answers at once (202) with their entry ids; `burnout stream-worker` scores them and answers on the results
stream. Invalid records are refused here (422, record and field named), so only valid ones enter the stream;
workers still send anything they cannot score to the dead-letter stream (other producers write to it too)."""

from __future__ import annotations

import anyio
from fastapi.responses import JSONResponse

from burnout_api.record_stream import connect
from burnout_api.rest.predict import RECORDS_EXAMPLES, DirectRoute, require_json
from burnout_api.schemas import EmployeeRecord, ErrorResponse
from burnout_api.stream_queue import queue_checked
from burnout_api.validation import decode_json
from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["predict"], route_class=DirectRoute)
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "minItems": 1, "items": EmployeeRecord.model_json_schema()},
            "examples": RECORDS_EXAMPLES,
        }
    },
}
_ACCEPTED = {
    "description": "The records are on the requests stream: one entry id per record, in order.",
    "content": {
        "application/json": {
            "example": {
                "ids": ["1767225600000-0"],
                "stream": "burnout:requests",
                "results_stream": "burnout:results",
                "dead_letter_stream": "burnout:dead",
            }
        }
    },
}


@router.post(
    "/predict_stream",
    summary="Queue raw employee records for scoring by the stream workers; answers with their stream ids",
    status_code=202,
    response_class=Response,
    openapi_extra={"requestBody": _BODY},
    responses={
        202: _ACCEPTED,
        400: {"model": ErrorResponse, "description": "The body is not JSON."},
        413: {"model": ErrorResponse, "description": "The body is over BURNOUT_MAX_BODY_BYTES."},
        415: {"model": ErrorResponse, "description": "The body is not application/json."},
        422: {"model": ErrorResponse, "description": "Invalid records: nothing was queued."},
        503: {"model": ErrorResponse, "description": "No Redis configured (BURNOUT_REDIS_URL) or reachable."},
    },
)
async def predict_stream(request: Request) -> Response:
    require_json(request)
    settings, body = request.app.state.settings, await request.body()
    ids = await anyio.to_thread.run_sync(_check_and_enqueue, request, body)
    body = {
        "ids": ids,
        "stream": settings.stream_requests,
        "results_stream": settings.stream_results,
        "dead_letter_stream": settings.stream_dead,
    }
    return JSONResponse(body, status_code=202)


def _check_and_enqueue(request: Request, body: bytes) -> list[str]:
    """Off the event loop: a batch of max_batch records takes a while to check and to send."""
    records = decode_json(body)  # MalformedBody: 400; InvalidInput: 422 naming record and field
    return queue_checked(request.app.state.settings, lambda: _client(request), records)


def _client(request: Request):
    """The app's Redis client, made on first use (its pool reconnects by itself after Redis restarts)."""
    client = getattr(request.app.state, "redis", None)
    if client is None:
        client = request.app.state.redis = connect(request.app.state.settings)
    return client
