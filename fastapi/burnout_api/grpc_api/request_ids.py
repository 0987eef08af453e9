"""A gRPC call's request id (`core.request_ids`): the `x-request-id` metadata, else the id the message
carries (V2's `id`), else a new one; the answer returns it in its trailing metadata, beside the replica's."""

from __future__ import annotations

import grpc

from burnout_api.core.request_ids import HEADER, request_id_from

Metadata = tuple[tuple[str, str], ...]


def request_id_of(context: grpc.aio.ServicerContext, sent_in_message: str | None = None) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == HEADER and isinstance(value, str):
            return request_id_from(value)
    return request_id_from(sent_in_message)


def return_request_id(context: grpc.aio.ServicerContext, request_id: str, trailer: Metadata) -> None:
    """Send `request_id` back with the call's other trailing metadata (`trailer`: the replica's)."""
    context.set_trailing_metadata((*trailer, (HEADER, request_id)))
