"""The tuning budget per family: trials, a timeout and the number of tuning tasks sharing the study, from the
trigger form, else Airflow Variables, else settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from burnout_base.settings import Settings
from etl.errors import InputError

# Past this, a family's mapped tasks outnumber what one study's storage and the workers usefully serve.
MAX_TUNING_WORKERS: int = next(
    rule.le for rule in Settings.model_fields["tuning_workers"].metadata if hasattr(rule, "le")
)


def resolve_budget(
    settings: Settings,
    trials: int | None = None,
    timeout_s: float | None = None,
    variables: Mapping[str, str | None] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """The tuning budget per family: the trigger form's values, else the Airflow Variables (`variables`,
    keyed "trials"/"timeout_s"/"workers"), else settings. "workers" is how many tasks tune the family's
    study together; the trials and the timeout bound the study as a whole, not each task."""
    variables = variables or {}
    chosen_trials = _first_set(trials, _parse(variables.get("trials"), int, "trials"), settings.tuning_trials)
    chosen_timeout = _first_set(
        timeout_s, _parse(variables.get("timeout_s"), float, "timeout_s"), settings.tuning_timeout_s
    )
    chosen_workers = _first_set(
        workers, _parse(variables.get("workers"), int, "workers"), settings.tuning_workers
    )
    if chosen_trials < 1:
        raise InputError(f"tuning budget: trials must be at least 1, got {chosen_trials}")
    if chosen_timeout is not None and chosen_timeout <= 0:
        raise InputError(f"tuning budget: timeout_s must be positive, got {chosen_timeout}")
    if not 1 <= chosen_workers <= MAX_TUNING_WORKERS:
        raise InputError(
            f"tuning budget: workers (tuning_workers) must be between 1 and {MAX_TUNING_WORKERS}, "
            f"got {chosen_workers}"
        )
    return {
        "trials": int(chosen_trials),
        "timeout_s": None if chosen_timeout is None else float(chosen_timeout),
        "workers": int(chosen_workers),
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
