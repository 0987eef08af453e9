"""The alias `challenger`: the best candidate that did not become champion, the version the live evidence
(monitoring's paired comparison on served predictions with feedback) holds up against the champion.

promote_best (modeling.registry) moves it after each decision (`take_challenger`); operators set or clear it
by hand (`set_challenger`, `clear_challenger`: `burnout challenger set|clear`, PUT/DELETE
/aliases/challenger). One version never holds both aliases: the champion's version is refused as challenger,
and moving `champion` onto the challenger's version drops `challenger` (`move_champion`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from burnout_base.settings import Settings
from burnout_base.tracking import configure_mlflow
from etl.errors import InputError
from modeling.registry_names import CHALLENGER, CHAMPION

log = logging.getLogger(__name__)


def find_alias(settings: Settings, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None (also when the model is not registered yet)."""
    try:
        return mlflow.MlflowClient().get_model_version_by_alias(settings.registered_model_name, alias)
    except MlflowException:
        return None


def version_of(model_version: ModelVersion | None) -> int | None:
    return None if model_version is None else int(model_version.version)


def pick_challenger(ranked: Iterable[ModelVersion], champion_version: int | None) -> ModelVersion | None:
    """The first of `ranked` (candidates, best first) that is not the champion's version; None if none is."""
    return next((mv for mv in ranked if int(mv.version) != champion_version), None)


def take_challenger(
    settings: Settings, ranked: Iterable[ModelVersion], champion_version: int | None
) -> int | None:
    """After a promotion decision: alias `challenger` onto the best of `ranked` that is not the champion's
    version, and that version; with no such candidate the alias stays as it is and None is returned."""
    challenger = pick_challenger(ranked, champion_version)
    if challenger is None:
        return None
    mlflow.MlflowClient().set_registered_model_alias(
        settings.registered_model_name, CHALLENGER, challenger.version
    )
    log.info("alias %s now on version %s", CHALLENGER, challenger.version)
    return int(challenger.version)


def move_champion(settings: Settings, version: int | str) -> None:
    """Alias `champion` onto `version`; `challenger` is dropped if it was on that version (it won)."""
    client, name = mlflow.MlflowClient(), settings.registered_model_name
    client.set_registered_model_alias(name, CHAMPION, str(version))
    if version_of(find_alias(settings, CHALLENGER)) == int(version):
        client.delete_registered_model_alias(name, CHALLENGER)
        log.info("alias %s dropped: its version %s is the champion now", CHALLENGER, version)


def set_challenger(settings: Settings, version: int) -> dict:
    """Put alias `challenger` on `version` by hand; the champion's version is refused (InputError)."""
    configure_mlflow(settings)
    client, name = mlflow.MlflowClient(), settings.registered_model_name
    try:
        client.get_model_version(name, str(int(version)))
    except MlflowException:
        raise InputError(f"model {name!r} has no version {version}") from None
    champion = version_of(find_alias(settings, CHAMPION))
    if champion == int(version):
        raise InputError(
            f"version {version} is the champion: a challenger must be another version "
            f"(move `champion` first, or pick another version)"
        )
    previous = version_of(find_alias(settings, CHALLENGER))
    client.set_registered_model_alias(name, CHALLENGER, str(int(version)))
    log.info("alias %s set on version %s by operator (was %s)", CHALLENGER, version, previous)
    return describe(CHALLENGER, int(version), previous, champion)


def clear_challenger(settings: Settings) -> dict:
    """Remove alias `challenger` (nothing is compared with the champion until promotion sets one again)."""
    configure_mlflow(settings)
    previous = version_of(find_alias(settings, CHALLENGER))
    if previous is not None:
        mlflow.MlflowClient().delete_registered_model_alias(settings.registered_model_name, CHALLENGER)
        log.info("alias %s removed by operator (was version %s)", CHALLENGER, previous)
    return describe(CHALLENGER, None, previous, version_of(find_alias(settings, CHAMPION)))


def describe(alias: str, version: int | None, previous: int | None, champion: int | None) -> dict:
    return {"alias": alias, "version": version, "previous_version": previous, "champion_version": champion}
