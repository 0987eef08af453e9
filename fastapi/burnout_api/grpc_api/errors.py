"""The one place that turns errors into gRPC statuses, for BurnoutRisk and GRPCInferenceService alike: bad
input INVALID_ARGUMENT (undecodable messages included), unknown alias or model NOT_FOUND, explanations asked
of a model without an explainer FAILED_PRECONDITION, no model, no registry or no record stream UNAVAILABLE;
anything else INTERNAL with a generic message, the traceback in the log only."""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError

from burnout_api.core import ErrorCode, MalformedBody, error_code
from burnout_api.error_codes import describe_error
from burnout_api.validation import FieldError

log = logging.getLogger(__name__)
STATUS = {
    ErrorCode.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.MALFORMED_BODY: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.EXPLANATION_UNAVAILABLE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNKNOWN_ALIAS: grpc.StatusCode.NOT_FOUND,
    ErrorCode.UNKNOWN_MODEL: grpc.StatusCode.NOT_FOUND,
    ErrorCode.NO_MODEL_YET: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.MODEL_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.STREAM_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.LAKE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
}


class Malformed:
    """Stands for a request whose bytes are not a valid `message_type` (see `lenient`)."""

    def __init__(self, message_type: str):
        self.message_type = message_type

    def refusal(self) -> MalformedBody:
        article = "an" if self.message_type[0] in "AEIOU" else "a"
        message = f"the message is not {article} {self.message_type}"
        return MalformedBody([FieldError(None, None, "invalid_message", message)])


def lenient(message_type):
    """A request deserializer that does not raise: grpc would answer a decoding error with a bare
    INTERNAL/UNKNOWN status, while the caller deserves INVALID_ARGUMENT (the handler refuses a `Malformed`
    with `refuse_malformed`)."""
    malformed = Malformed(message_type.DESCRIPTOR.name)

    def parse(data: bytes):
        try:
            return message_type.FromString(data)
        except DecodeError:
            return malformed

    return parse


def refuse_malformed(request: object) -> None:
    """The one check of a request's bytes: MalformedBody (INVALID_ARGUMENT) when they were not a message."""
    if isinstance(request, Malformed):
        raise request.refusal()


async def abort_for(context: grpc.aio.ServicerContext, exc: Exception, where: str = "") -> None:
    """Abort the call with the status of an error's code, or INTERNAL for anything else (raises)."""
    code = error_code(exc)
    if code is None:
        log.error("unexpected error in a gRPC call", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, where + "internal error: the service logged it")
    await context.abort(STATUS[code], where + describe_error(exc))
