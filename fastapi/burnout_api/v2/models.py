"""Which model a V2 path names, and what the protocol's metadata says about it and about the server.

The model name is the registered model's; the version is a registry version number or an alias, the
champion when absent. A version number is served through an alias that points at it: a version no alias
points at is not loaded here (404, with the versions that are)."""

from __future__ import annotations

from burnout_api.core import CHAMPION, InferenceCore, ModelUnavailable, UnknownModel
from burnout_api.core.snapshot import list_aliases
from burnout_api.v2.tensors import CONTENT_TYPE, INPUTS, OUTPUTS
from etl.contract import CLASSES

SERVER_NAME = "burnout-risk-api"
SERVER_VERSION = "1.0"


def server_metadata() -> dict:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}


def resolve_alias(core: InferenceCore, name: str, version: str | None) -> str:
    """The alias that answers for `name` at `version` (the core then loads it, or says why it cannot)."""
    if name != core.store.name:
        raise UnknownModel(f"no model {name[:100]!r} here; this service serves {core.store.name!r}")
    if not version:
        return CHAMPION
    if not version.isdigit():
        return version  # an alias: the core checks it, and knows whether the registry has it
    snapshot = core.snapshot
    if snapshot.checked_at is None:
        raise ModelUnavailable("the registry has not been read yet: try again in a moment")
    for alias in list_aliases(snapshot):  # the champion first
        if snapshot.registry.get(alias) == int(version):
            return alias
    served = sorted(set(snapshot.registry.values()))
    raise UnknownModel(
        f"version {version} of {name!r} is not served: only versions behind an alias are "
        f"(served: {', '.join(map(str, served)) or 'none yet'})"
    )


def model_versions(core: InferenceCore) -> list[str]:
    """What may follow /versions/: every alias (the champion first), then the version numbers behind them."""
    snapshot = core.snapshot
    aliases = list_aliases(snapshot)
    numbers = sorted({snapshot.registry[a] for a in aliases if a in snapshot.registry})
    return [*aliases, *map(str, numbers)]


def model_metadata(core: InferenceCore, name: str, version: str | None) -> dict:
    """The protocol's model metadata (loading the model if needed: blocking). `parameters` carries what the
    tensors alone cannot say: the convention, the probabilities' columns, and which version answers."""
    alias = resolve_alias(core, name, version)
    model = core.ensure_alias(alias)
    return {
        "name": name,
        "versions": model_versions(core),
        "platform": model.metadata.family or "sklearn",
        "inputs": [spec.as_dict() for spec in INPUTS],
        "outputs": [spec.as_dict() for spec in OUTPUTS],
        "parameters": {
            "content_type": CONTENT_TYPE,
            "classes": ",".join(CLASSES),
            "alias": alias,
            "version": str(model.metadata.version),
        },
    }
