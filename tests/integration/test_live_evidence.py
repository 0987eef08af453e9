"""The live-evidence loop in one process (issue 24), as the stack journey runs it on the real stack: the
service shadows the challenger, employees are predicted with their Employee ID, their observed Burn Rate is
posted to /feedback (by request id and by employee window, some twice), and `check_quality`'s figures equal
the same figures computed here from the answers the service gave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from serving_support import isolated, register_synthetic_model, wait_for
from sklearn.metrics import f1_score

from burnout_api.main import create_app
from burnout_base.settings import Settings
from etl.contract import CLASSES, FEATURES, IDENTIFIER, TARGET, burn_rate_to_class
from etl.synthetic import generate_synthetic
from monitoring import quality

pytestmark = pytest.mark.slow
EMPLOYEES = 120


@pytest.fixture
def settings(mlflow_server, tmp_path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    base = Settings(_env_file=None, home=home, mlflow_tracking_uri=mlflow_server, mlflow_artifact_root=None)
    return isolated(base, shadow_alias="challenger", reload_token=SecretStr("t"), prediction_log_flush_s=60.0)


def employees() -> pd.DataFrame:
    frame = generate_synthetic(rows=3 * EMPLOYEES, seed=11).dropna(subset=[TARGET])
    return frame.drop_duplicates(IDENTIFIER).head(EMPLOYEES).reset_index(drop=True)


def as_record(row: pd.Series, with_id: bool = True) -> dict:
    record = {name: _plain(row[name]) for name in FEATURES if not pd.isna(row[name])}
    return {**record, IDENTIFIER: row[IDENTIFIER]} if with_id else record


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value  # numpy scalars -> JSON numbers


def test_the_live_figures_equal_the_offline_ones(settings, monkeypatch):
    champion = register_synthetic_model(settings, "lightgbm", ("champion",))
    challenger = register_synthetic_model(settings, "knn", ("challenger",), seed=1)
    people = employees()
    window_start = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, timeout=60)
        wait_for(
            lambda: (
                {"champion", "challenger"}
                <= {m["alias"] for m in client.get("/models").json()["models"] if m["loaded"]}
            ),
            timeout=60,
        )
        records = [as_record(row) for _, row in people.iterrows()]
        served = client.post("/predict", json=records, headers={"X-Request-ID": "live-1"}).json()
        anonymous = [as_record(row, with_id=False) for _, row in people.iterrows()]
        offline = client.post("/predict?model=challenger", json=anonymous).json()
        outcomes = [
            {"request_id": "live-1", "record_index": i, TARGET: float(rate)}
            if i % 2
            else {IDENTIFIER: people[IDENTIFIER][i], "from": window_start, TARGET: float(rate)}
            for i, rate in enumerate(people[TARGET])
        ]
        for batch in (outcomes, outcomes[:10]):
            assert client.post("/feedback", json=batch).json()["accepted"] == len(batch)
        shadowed = f'burnout_shadow_records_total{{alias="challenger",version="{challenger}"}} {EMPLOYEES}.0'
        wait_for(lambda: shadowed in client.get("/metrics").text, timeout=60)
    # The app has stopped: its shadow scored what was queued, and the log wrote every row.
    monkeypatch.setattr(
        quality,
        "champion_test_floor",
        lambda _: {
            "version": champion,
            "dataset_version": None,
            "test_macro_f1": 0.9,
            "test_macro_f1_low": 0.0,
        },
    )
    summary = quality.check_quality(settings, days=1)

    observed = [burn_rate_to_class(rate) for rate in people[TARGET]]
    expected = {
        ("served", champion): f1_score(
            observed, [p["class"] for p in served["predictions"]], labels=list(CLASSES), average="macro"
        ),
        ("shadow", challenger): f1_score(
            observed, [p["class"] for p in offline["predictions"]], labels=list(CLASSES), average="macro"
        ),
    }
    figures = {(f["role"], f["model_version"]): f for f in summary["versions"]}
    for key, macro_f1 in expected.items():
        assert figures[key]["rows"] == EMPLOYEES
        assert figures[key]["macro_f1"] == pytest.approx(macro_f1, abs=1e-12)
        low, high = figures[key]["macro_f1_ci"]
        assert low <= macro_f1 <= high
    (pair,) = summary["shadow_pairs"]
    assert (pair["served_version"], pair["shadow_version"], pair["rows"]) == (champion, challenger, EMPLOYEES)
    difference = expected[("shadow", challenger)] - expected[("served", champion)]
    assert pair["difference"] == pytest.approx(difference, abs=1e-12)
    assert summary["unmatched"] == 0 and summary["labelled"] == EMPLOYEES
    assert summary["labelled_uri"] and summary["mlflow_run_id"]
