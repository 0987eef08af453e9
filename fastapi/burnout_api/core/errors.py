"""Why the core could not answer, whatever the protocol; each transport maps these once to its codes."""

from __future__ import annotations

from burnout_api.validation import FieldError, InvalidInput, MalformedBody

__all__ = [
    "ExplanationUnavailable",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "MalformedBody",
    "ModelUnavailable",
    "NoModelYet",
    "UnknownAlias",
    "UnknownModel",
    "Unauthorized",
]


class ExplanationUnavailable(InvalidInput):
    """Explanations were asked of a model that has none (e.g. a version trained before they existed, without
    the background sample a non-tree model is explained against); its plain predictions still work.
    Transports map it before InvalidInput: the request is valid, the model cannot honour it (409,
    FAILED_PRECONDITION)."""

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

    def __init__(self, model_name: str, alias: str):
        super().__init__(
            f"no model yet: alias {alias!r} of registered model {model_name!r} is not set; run the "
            "burnout_pipeline DAG (or `burnout pipeline`) to train and promote one"
        )


class UnknownAlias(LookupError):
    """The caller asked for an alias the registry does not have."""

    def __init__(self, model_name: str, alias: str, known: list[str]):
        self.alias = alias
        listing = ", ".join(known) if known else "none yet"
        super().__init__(f"registered model {model_name!r} has no alias {alias!r} (aliases: {listing})")


class UnknownModel(LookupError):
    """The caller named a model or a version this service does not serve (the Open Inference Protocol names
    both in its paths)."""


class ModelUnavailable(RuntimeError):
    """The alias exists but its model could not be loaded (MLflow unreachable, or the load failed)."""


class Unauthorized(PermissionError):
    """A protected operation without the right token."""


class Forbidden(PermissionError):
    """A protected operation nobody may call here (e.g. /reload when the service has no token)."""
