"""What the service serves at one moment, and how that reads from outside (/ready, /models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from burnout_api.core.loaded_model import LoadedModel
from modeling.registry_names import CHAMPION


@dataclass(frozen=True)
class Snapshot:
    """Alias -> loaded model, and what the registry said last; never mutated once published."""

    models: dict[str, LoadedModel] = field(default_factory=dict)
    registry: dict[str, int] = field(default_factory=dict)
    mlflow: str = "unknown"  # "reachable" | "unreachable" | "unknown" (not polled yet)
    last_error: str | None = None
    checked_at: datetime | None = None


def describe_readiness(snapshot: Snapshot, draining: bool = False) -> dict:
    """Whether a champion is served and, if not, why: the body of /ready. A draining process (shutting
    down) is not ready, whatever it has loaded."""
    champion = snapshot.models.get(CHAMPION)
    if draining:
        state = "draining"
    elif champion is not None:
        state = "ready"
    elif snapshot.checked_at is None:
        state = "starting"
    elif snapshot.mlflow == "unreachable":
        state = "mlflow_unreachable"
    elif CHAMPION in snapshot.registry:
        state = "loading_failed"
    else:
        state = "no_model"
    return {
        "ready": champion is not None and not draining,
        "state": state,
        "mlflow": snapshot.mlflow,
        "champion_version": champion.metadata.version if champion else None,
        "last_error": snapshot.last_error,
        "checked_at": snapshot.checked_at.isoformat() if snapshot.checked_at else None,
    }


def describe_alias(alias: str, snapshot: Snapshot) -> dict:
    """An alias, its version and, when loaded, the metadata of the model answering for it."""
    model = snapshot.models.get(alias)
    if model is None:
        return {"alias": alias, "version": snapshot.registry.get(alias), "loaded": False}
    return {"alias": alias, **model.metadata.as_dict(), "loaded": True}


def list_aliases(snapshot: Snapshot) -> list[str]:
    """Every alias known, the champion first."""
    return sorted(snapshot.registry.keys() | snapshot.models.keys(), key=lambda a: (a != CHAMPION, a))
