"""A small published synthetic dataset, shared by all modeling unit tests (the ETL and MLflow store
take seconds to set up; the models trained on it take milliseconds)."""

from __future__ import annotations

import pytest

from burnout_base.settings import Settings


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def dataset(published_settings):
    from etl.dataset import load_dataset

    return load_dataset(published_settings)


@pytest.fixture(scope="session")
def make_pipeline(dataset):
    """Build a served-shape Pipeline (the dataset's fitted preprocessor + a fitted estimator), fast."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    def build(estimator):
        estimator.fit(np.asarray(dataset.X_train, dtype=float), np.asarray(dataset.y_train))
        return Pipeline([("preprocessor", dataset.preprocessor), ("model", estimator)])

    return build
