"""The library calls behind the DAG tasks that are more than one existing function: getting the raw CSV into
the lake, choosing the tuning budget and the dataset version, and training a family unless this dataset
version already has a model of it. Each step takes settings and small values and returns a small dict of
plain JSON types (what Airflow passes between tasks), never a DataFrame."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from burnout_base.settings import Settings
from etl.errors import InputError

log = logging.getLogger(__name__)


def ingest_raw_data(settings: Settings, input: str | None = None) -> dict[str, Any]:
    """Make sure the raw dataset is in the lake: upload the CSV from data_dir if the raw object is missing,
    generating a synthetic dataset under BURNOUT_HOME first when data_dir holds no CSV (data_dir is only
    read). Never overwrites the raw object.
    With an explicit `input` (the ETL reads it directly) there is nothing to ingest."""
    from etl.ingest import upload_raw
    from etl.lake import lake_from_settings
    from etl.synthetic import write_synthetic_csv

    if input:
        return {"uri": input, "uploaded": False, "source": input, "generated": False}
    lake = lake_from_settings(settings)
    if lake.exists(settings.raw_bucket, settings.raw_key):
        uri = lake.uri(settings.raw_bucket, settings.raw_key)
        log.info("raw dataset already in the lake at %s", uri)
        return {"uri": uri, "uploaded": False, "source": None, "generated": False}
    source = find_raw_csv(Path(settings.data_dir), settings.raw_key)
    generated = source is None
    if source is None:
        # Under BURNOUT_HOME, never in data_dir: the stack mounts data/ read-only; it is the user's folder.
        source = settings.home / "generated" / settings.raw_key
        log.info("no CSV in %s: generating %d synthetic rows", settings.data_dir, settings.synthetic_rows)
        write_synthetic_csv(source, rows=settings.synthetic_rows, seed=settings.seed)
    result = upload_raw(settings, source)
    return {**result, "source": str(source.resolve()), "generated": generated}


def find_raw_csv(data_dir: Path, preferred_name: str) -> Path | None:
    """The CSV to upload from `data_dir`: the one named like the raw object, else the only one; None if
    there is none, InputError if several leave the choice ambiguous."""
    if (data_dir / preferred_name).is_file():
        return data_dir / preferred_name
    candidates = sorted(data_dir.glob("*.csv")) if data_dir.is_dir() else []
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise InputError(f"{data_dir} holds several CSVs ({names}); name the one to use with BURNOUT_RAW_KEY")
    return candidates[0] if candidates else None


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


def pick_dataset_version(requested: str | None, announced: Sequence[str | None] = ()) -> str | None:
    """The dataset version to train on: the one asked for, else the newest announced by the triggering asset
    events, else None (= the latest published)."""
    if requested:
        return requested
    versions = [v for v in announced if v]
    return versions[-1] if versions else None


def train_or_reuse(
    family: str,
    settings: Settings,
    dataset_version: str | None,
    budget: Mapping[str, Any],
    retrain: bool = True,
) -> dict[str, Any]:
    """Train `family` on `dataset_version`, unless `retrain` is off and the family's alias already points to a
    version trained on it (then that version is reported with reused=True and nothing is registered)."""
    from modeling.train import train_family

    if not retrain and dataset_version:
        existing = find_trained_version(settings, family, dataset_version)
        if existing is not None:
            log.info(
                "%s: version %s already trained on dataset %s; reusing it (retrain to train again)",
                family,
                existing["model_version"],
                dataset_version,
            )
            return existing
    result = train_family(
        family,
        settings,
        dataset_version=dataset_version,
        trials=budget.get("trials"),
        timeout=budget.get("timeout_s"),
    )
    return {**to_plain(result), "reused": False}


def find_trained_version(settings: Settings, family: str, dataset_version: str) -> dict[str, Any] | None:
    """The registered version behind alias `family` if it was trained on `dataset_version`, else None."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.registered_model_name, family)
    except MlflowException:
        return None  # no registered model or no such alias yet
    if version.tags.get("dataset_version") != dataset_version:
        return None
    metrics = client.get_run(version.run_id).data.metrics
    return {
        "family": family,
        "model_version": int(version.version),
        "dataset_version": dataset_version,
        "run_id": version.run_id,
        "test_macro_f1": metrics.get("test_macro_f1"),
        "reused": True,
    }


def to_plain(value: Any) -> Any:
    """`value` as plain JSON types (numpy scalars become floats/ints), fit for Airflow's XCom."""
    return json.loads(json.dumps(value, default=_plain_default))


def _plain_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


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
