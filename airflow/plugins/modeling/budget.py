"""The tuning budget per family: trials and a timeout, from the trigger form, else Airflow Variables, else
settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from burnout_base.settings import Settings
from etl.errors import InputError


def resolve_budget(
    settings: Settings,
    trials: int | None = None,
    timeout_s: float | None = None,
    variables: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The tuning budget per family: the trigger form's values, else the Airflow Variables (`variables`,
    keyed "trials"/"timeout_s"), else settings."""
    variables = variables or {}
    chosen_trials = _first_set(trials, _parse(variables.get("trials"), int, "trials"), settings.tuning_trials)
    chosen_timeout = _first_set(
        timeout_s, _parse(variables.get("timeout_s"), float, "timeout_s"), settings.tuning_timeout_s
    )
    if chosen_trials < 1:
        raise InputError(f"tuning budget: trials must be at least 1, got {chosen_trials}")
    if chosen_timeout is not None and chosen_timeout <= 0:
        raise InputError(f"tuning budget: timeout_s must be positive, got {chosen_timeout}")
    return {
        "trials": int(chosen_trials),
        "timeout_s": None if chosen_timeout is None else float(chosen_timeout),
    }


def _first_set(*values):
    return next((v for v in values if v is not None), None)


def _parse(raw: str | None, kind: type, name: str):
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InputError(
            f"Airflow Variable for the tuning budget's {name} is not a number: {raw!r}"
        ) from None
