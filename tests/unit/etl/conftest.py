"""Fixtures for the ETL unit tests: small synthetic inputs, and a way to write CSVs with chosen bad rows."""

from __future__ import annotations

import pandas as pd
import pytest

from etl.synthetic import generate_synthetic


@pytest.fixture(scope="session")
def synthetic_frame() -> pd.DataFrame:
    """600 synthetic raw records (read-only: copy before changing)."""
    return generate_synthetic(600, seed=7)


@pytest.fixture
def csv_bytes():
    """Serialize a raw frame to the CSV bytes the ETL reads."""

    def build(frame: pd.DataFrame) -> bytes:
        return frame.to_csv(index=False).encode()

    return build
