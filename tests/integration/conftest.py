"""Fixtures shared by the integration tests that serve models trained on the real dataset."""

from __future__ import annotations

import pytest

from burnout_base.settings import Settings


@pytest.fixture(scope="module")
def real_split(real_dataset, tmp_path_factory):
    """The real dataset as the ETL publishes it (TRAIN/TEST, fitted preprocessor), in a home of its own."""
    from etl.dataset import load_dataset
    from etl.run_etl import run_etl

    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("real-split-home"))
    settings.ensure_home()
    run_etl(str(real_dataset), settings)
    return load_dataset(settings)
