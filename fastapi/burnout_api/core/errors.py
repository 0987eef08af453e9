"""Why the core could not answer, whatever the protocol: each error carries one `ErrorCode`, which each
transport maps once, in its own table."""

from __future__ import annotations

from burnout_api.error_codes import ErrorCode, error_code
from burnout_api.validation import FieldError, InvalidInput, MalformedBody

__all__ = [
    "ErrorCode",
    "ExplanationUnavailable",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "MalformedBody",
    "ModelUnavailable",
    "NoModelYet",
    "SERVICE_ERRORS",
    "StreamUnavailable",
    "UnknownAlias",
    "UnknownModel",
    "Unauthorized",
    "error_code",
]


class ExplanationUnavailable(InvalidInput):
    """Explanations were asked of a model that has none (e.g. a version trained before they existed, without
    the background sample a non-tree model is explained against); its plain predictions still work.
    A code of its own, not InvalidInput's: the request is valid, the model cannot honour it (409,
    FAILED_PRECONDITION)."""

    code = ErrorCode.EXPLANATION_UNAVAILABLE

    def __init__(self, version: int, family: str | None):
        super().__init__(
            [
                FieldError(
                    None,
                    "explain",
                    "explanation_unavailable",
                    f"model version {version} ({family or 'unknown family'}) cannot explain its answers: "
                    "its training run logged no background sample to explain it against (retrain it to "
                    "explain); its predictions are served without explain",
                )
            ]
        )


class NoModelYet(LookupError):
    """The registered model has no champion yet: a fresh stack before its first training."""

    code = ErrorCode.NO_MODEL_YET

    def __init__(self, model_name: str, alias: str):
        super().__init__(
            f"no model yet: alias {alias!r} of registered model {model_name!r} is not set; run the "
            "burnout_pipeline DAG (or `burnout pipeline`) to train and promote one"
        )


class UnknownAlias(LookupError):
    """The caller asked for an alias the registry does not have."""

    code = ErrorCode.UNKNOWN_ALIAS

    def __init__(self, model_name: str, alias: str, known: list[str]):
        self.alias = alias
        listing = ", ".join(known) if known else "none yet"
        super().__init__(f"registered model {model_name!r} has no alias {alias!r} (aliases: {listing})")


class UnknownModel(LookupError):
    """The caller named a model or a version this service does not serve (the Open Inference Protocol names
    both in its paths)."""

    code = ErrorCode.UNKNOWN_MODEL


class ModelUnavailable(RuntimeError):
    """The alias exists but its model could not be loaded (MLflow unreachable, or the load failed)."""

    code = ErrorCode.MODEL_UNAVAILABLE


class Unauthorized(PermissionError):
    """A protected operation without the right token."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(PermissionError):
    """A protected operation nobody may call here (e.g. /reload when the service has no token)."""

    code = ErrorCode.FORBIDDEN


class StreamUnavailable(RuntimeError):
    """No Redis is configured for the record stream, or the configured one does not answer."""

    code = ErrorCode.STREAM_UNAVAILABLE


class LakeUnavailable(RuntimeError):
    """The lake did not take a write the answer depends on (POST /feedback stores before it answers)."""

    code = ErrorCode.LAKE_UNAVAILABLE


# Every class of the vocabulary (a transport that registers handlers by class registers these).
SERVICE_ERRORS = (
    InvalidInput,
    MalformedBody,
    ExplanationUnavailable,
    NoModelYet,
    UnknownAlias,
    UnknownModel,
    ModelUnavailable,
    Unauthorized,
    Forbidden,
    StreamUnavailable,
    LakeUnavailable,
)
