"""The live-quality check end to end on the embedded stores: predictions (served and shadow) written to the
prediction log, outcomes to the feedback store, `check_quality` on a temporary BURNOUT_HOME with its SQLite
MLflow (the champion lookup stubbed: no model is trained here); the assertions are on the summary, the MLflow
run (tags, metrics, artifacts), the labelled training file and `paired_live_difference`."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from burnout_base.settings import Settings
from etl.contract import CLASSES, FEATURES, TARGET, burn_rate_to_class
from etl.lake import lake_from_settings
from etl.synthetic import generate_synthetic
from monitoring import quality
from monitoring.feedback import SCHEMA as FEEDBACK_SCHEMA
from monitoring.feedback import write_feedback
from monitoring.prediction_log import SCHEMA, write_predictions

TODAY = datetime.now(UTC).date()
LOGGED = datetime(TODAY.year, TODAY.month, TODAY.day, 1, tzinfo=UTC)  # logged today, answered 6 h later
TEST_LOW = 0.90  # the stubbed champion's TEST interval lower bound


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    home = tmp_path / "home"
    settings = Settings(_env_file=None, home=home, quality_min_rows=200, quality_bootstrap=200)
    settings.ensure_home()
    champion = {"version": 1, "dataset_version": "d1", "test_macro_f1": 0.93, "test_macro_f1_low": TEST_LOW}
    monkeypatch.setattr(quality, "champion_test_floor", lambda _settings: champion)
    return settings


@pytest.fixture
def written(monkeypatch) -> list[pd.DataFrame]:
    """The frames given to etl.labelled.write_labelled_records (still written, when that module exists)."""
    frames: list[pd.DataFrame] = []
    try:
        from etl import labelled
    except ImportError:  # the labelled-records module is not there yet: record, and make up a URI
        import sys
        import types

        labelled = types.ModuleType("etl.labelled")
        labelled.labelled_keys = lambda settings, lake=None: []
        monkeypatch.setitem(sys.modules, "etl.labelled", labelled)
        original = None
    else:
        original = labelled.write_labelled_records

    def record(settings, frame):
        frames.append(frame.copy())
        return original(settings, frame) if original else f"file:///labelled/{len(frames)}.csv"

    monkeypatch.setattr(labelled, "write_labelled_records", record, raising=False)
    return frames


def log_traffic(
    settings: Settings, rows: int, served_accuracy: float, seed: int, anonymous: int = 0
) -> pd.DataFrame:
    """`rows` records logged by the champion (v1, right with probability `served_accuracy`) and shadowed by
    v2 (always right), the last `anonymous` without an Employee ID; returns the records with their true Burn
    Rate and request ids."""
    rng = np.random.default_rng(seed)
    records = generate_synthetic(rows * 2, seed)
    records = records[records[TARGET].notna()].head(rows).reset_index(drop=True)
    truth = records[TARGET].map(burn_rate_to_class).to_numpy()
    served = np.where(rng.random(rows) < served_accuracy, truth, rng.choice(CLASSES, size=rows))
    frames = []
    for role, version, answers in (("served", 1, served), ("shadow", 2, truth)):
        frame = records[list(FEATURES)].copy()
        frame["request_id"] = [f"s{seed}-{i}" for i in range(rows)]
        frame["record_index"] = 0
        frame["logged_at"] = LOGGED + pd.to_timedelta(np.arange(rows), unit="s")
        frame["protocol"] = "rest"
        frame["alias"] = "champion" if role == "served" else "challenger"
        frame["model_version"] = version
        frame["predicted_class"] = answers
        for name in CLASSES:
            frame[f"proba_{name}"] = np.where(answers == name, 0.8, 0.1)
        frame["replica"] = "test"
        frame["employee_id"] = [f"E{seed}-{i}" if i < rows - anonymous else None for i in range(rows)]
        frame["role"] = role
        frames.append(frame)
    write_predictions(
        lake_from_settings(settings), settings.predictions_bucket, pd.concat(frames)[SCHEMA.names]
    )
    records["request_id"] = frames[0]["request_id"]
    return records


def post_outcomes(settings: Settings, records: pd.DataFrame, by_employee: int = 0) -> None:
    """One outcome per record (with its Burn Rate), the first `by_employee` by Employee ID and a window, the
    rest by request id; plus one outcome for a request never logged."""
    received = LOGGED + timedelta(hours=6)
    rows = []
    for i, record in records.iterrows():
        outcome = {
            "feedback_id": "post-1",
            "received_at": received,
            "burn_rate": float(record[TARGET]),
            "observed_class": burn_rate_to_class(record[TARGET]),
        }
        if i < by_employee:
            employee = record["request_id"].replace("s", "E", 1)
            outcome |= {
                "employee_id": employee,
                "window_start": LOGGED - timedelta(hours=1),
                "window_end": LOGGED + timedelta(hours=2),
            }
        else:
            outcome |= {"request_id": record["request_id"], "record_index": 0}
        rows.append(outcome)
    rows.append(
        {"feedback_id": "post-2", "received_at": received, "request_id": "nobody", "observed_class": "Low"}
    )
    table = pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)
    write_feedback(lake_from_settings(settings), settings.feedback_bucket, table)


def test_degraded_champion_is_reported_logged_and_its_records_written(settings, written):
    records = log_traffic(settings, rows=300, served_accuracy=0.5, seed=1, anonymous=60)
    post_outcomes(settings, records, by_employee=40)

    summary = quality.check_quality(settings, days=2)

    assert summary["status"] == "checked"
    assert summary["window"] == {"start": (TODAY - timedelta(days=1)).isoformat(), "end": TODAY.isoformat()}
    assert summary["rows"] == 600 and summary["labelled"] == 300 and summary["labelled_shadow"] == 300
    assert summary["coverage"] == 1.0 and summary["unmatched"] == 1
    assert 5.9 < summary["delay"]["median_h"] < 6.1
    live = summary["champion_live"]
    assert live["model_version"] == 1 and live["rows"] == 300 and live["macro_f1"] < TEST_LOW
    assert summary["degraded"] is True and summary["champion_test_macro_f1_low"] == TEST_LOW
    [pair] = summary["shadow_pairs"]
    assert (pair["served_version"], pair["shadow_version"], pair["rows"]) == (1, 2, 300)
    assert pair["ci"][0] > 0  # the always-right shadow model is better, surely

    run = mlflow.MlflowClient().get_run(summary["mlflow_run_id"])
    assert run.info.run_name == "model_quality"
    assert run.data.tags["kind"] == "quality" and run.data.tags["champion_version"] == "1"
    assert run.data.tags["degraded"] == "true" and run.data.tags["window_end"] == TODAY.isoformat()
    metrics = run.data.metrics
    assert metrics["labelled"] == 300 and metrics["coverage"] == 1.0
    assert metrics["v1_served/macro_f1"] == pytest.approx(live["macro_f1"])
    assert metrics["v2_shadow/macro_f1"] == 1.0
    assert metrics["pair_v2_vs_v1/difference"] > 0
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"quality_summary.json", "quality_report.md"} <= artifacts
    figures = {a.path.removeprefix("figures/") for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {
        "macro_f1_by_version.png",
        "reliability.png",
        "outcome_delay.png",
        "shadow_difference.png",
    }

    [frame] = written
    assert list(frame.columns) == ["Employee ID", *FEATURES, TARGET]
    assert len(frame) == 300 and summary["labelled_records"] == 300
    # Records served without an Employee ID are training data too, written with an empty id.
    assert list(frame["Employee ID"]) == [f"E1-{i}" for i in range(240)] + [""] * 60
    assert sorted(frame[TARGET]) == pytest.approx(sorted(records[TARGET]))
    assert summary["labelled_uri"]


def test_second_check_writes_no_record_twice(settings, written):
    pytest.importorskip("etl.labelled")
    records = log_traffic(settings, rows=120, served_accuracy=0.95, seed=2)
    post_outcomes(settings, records)

    first = quality.check_quality(settings, days=1)
    again = quality.check_quality(settings, days=1)

    assert first["labelled_records"] == 120 and first["degraded"] is False  # too few rows to judge
    assert again["labelled_records"] == 0 and again["labelled_uri"] is None
    assert len(written) == 1
    lake = lake_from_settings(settings)
    key = first["labelled_uri"].split(f"{settings.raw_bucket}/", 1)[1]
    stored = pd.read_csv(io.BytesIO(lake.read_bytes(settings.raw_bucket, key)))
    assert len(stored) == 120 and stored["Employee ID"].str.startswith("E2-").all()


def test_paired_live_difference_takes_champion_served_against_challenger_shadow(settings, written):
    records = log_traffic(settings, rows=150, served_accuracy=0.6, seed=3)
    post_outcomes(settings, records)

    evidence = quality.paired_live_difference(settings, champion_version=1, challenger_version=2, days=1)
    nothing = quality.paired_live_difference(settings, champion_version=1, challenger_version=7)

    assert evidence["rows"] == 150 and evidence["difference"] > 0 and evidence["ci"][0] > 0
    assert evidence["window"] == [TODAY.isoformat(), TODAY.isoformat()]
    assert (evidence["champion_version"], evidence["challenger_version"]) == (1, 2)
    assert nothing["rows"] == 0 and nothing["difference"] is None and nothing["ci"] is None


def test_empty_window_is_a_clear_skip(settings, written):
    summary = quality.check_quality(settings, days=3, end=TODAY - timedelta(days=400))

    assert summary["status"] == "skipped" and "no logged predictions" in summary["reason"]
    assert summary["degraded"] is False and written == []
