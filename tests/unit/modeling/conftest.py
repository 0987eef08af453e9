"""A small published synthetic dataset, shared by the modeling tests of one module (the ETL and MLflow store
take seconds to set up; the models trained on it take milliseconds)."""

from __future__ import annotations

import pytest

from burnout.settings import Settings


@pytest.fixture(scope="module")
def published_settings(tmp_path_factory) -> Settings:
    """Embedded-mode settings (local SQLite MLflow) with one published synthetic dataset of 400 rows."""
    from etl.run_etl import run_etl
    from etl.synthetic import write_synthetic_csv

    home = tmp_path_factory.mktemp("modeling-home")
    settings = Settings(_env_file=None, home=home, tuning_trials=2, cv_folds=2)
    settings.ensure_home()
    write_synthetic_csv(home / "input.csv", rows=400, seed=7)
    run_etl(str(home / "input.csv"), settings)
    return settings
