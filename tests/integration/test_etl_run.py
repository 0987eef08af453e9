"""run_etl end to end on synthetic data with malformed rows mixed in: every row and line accounted for (an
unterminated quote costs its own line only), a complete version published (manifest last), the preprocessor
fitted on TRAIN only, MLflow told everything, a re-run on the same input reusing the version without
rewriting anything, and the quarantine published even when no row is left to publish."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest

from burnout_base.settings import Settings
from etl.contract import CLASSES, FEATURES, NUMERIC_FEATURES
from etl.dataset import latest_version, load_dataset
from etl.errors import InputError
from etl.ingest import upload_raw
from etl.lake import LocalLake, lake_from_settings
from etl.parse_csv import LINE, REASON
from etl.preprocess import fit_preprocessor
from etl.publish import ETL_VERSION, FILES, MANIFEST, QUARANTINE_PREFIX, parquet_to_frame
from etl.run_etl import run_etl
from etl.synthetic import generate_synthetic

GOOD_ROWS = 800
MISALIGNED_LINE = 52
# (0-based row, column, bad value, phrase expected in the reason)
BREAKAGES = [
    (3, "Designation", "senior", "'senior' is not a number"),
    (10, "Gender", "Other", "unknown category 'Other'"),
    (20, "Sleep Hours", "30", "above the maximum 24"),
    (30, "Team Size", "", "missing (required)"),
    (40, "Date of Joining", "2008-02-31", "not a YYYY-MM-DD date"),
]


def write_input(path: Path, rows: int = GOOD_ROWS, seed: int = 5, breakages=BREAKAGES) -> Path:
    frame = generate_synthetic(rows, seed=seed).astype(object)
    for row, column, value, _ in breakages:
        frame.loc[row, column] = value
    frame["Comment"] = "extra"
    lines = frame.to_csv(index=False).splitlines()
    if breakages:
        # A record that does not align with the header, as line MISALIGNED_LINE (lines[0] is line 1).
        lines.insert(MISALIGNED_LINE - 1, lines[MISALIGNED_LINE - 1] + ",one too many")
    path.write_text("\n".join(lines) + "\n")
    return path


def build_settings(home: Path, **overrides) -> Settings:
    settings = Settings(_env_file=None, home=home, **overrides)
    settings.ensure_home()
    return settings


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("etl-run")
    settings = build_settings(root / "home", seed=13)
    csv = write_input(root / "input.csv")
    started = time.monotonic()
    summary = run_etl(str(csv), settings)
    return SimpleNamespace(settings=settings, csv=csv, summary=summary, seconds=time.monotonic() - started)


def test_run_etl_accounts_for_every_row(published):
    s = published.summary
    assert s["rows_in"] == GOOD_ROWS + 1
    assert s["rows_quarantined"] == len(BREAKAGES) + 1
    assert s["rows_in"] == s["rows_kept"] + sum(s["rows_dropped"].values()) + s["rows_quarantined"]
    assert 1 + s["rows_in"] + s["blank_lines"] == len(published.csv.read_bytes().splitlines())
    assert s["train_rows"] + s["test_rows"] == s["rows_kept"]
    assert s["test_rows"] == pytest.approx(0.2 * s["rows_kept"], abs=1)
    assert sum(s["class_balance"].values()) == s["rows_kept"] and list(s["class_balance"]) == list(CLASSES)
    assert s["extra_columns_ignored"] == ["Comment"]
    assert s["reused"] is False and s["mlflow_run_id"]
    assert s["input"] == published.csv.as_uri()


def test_run_etl_publishes_a_complete_version(published):
    settings, version = published.settings, published.summary["dataset_version"]
    lake = lake_from_settings(settings)
    keys = lake.list_keys(settings.processed_bucket, prefix=f"{version}/")
    assert sorted(keys) == sorted(f"{version}/{name}" for name in [*FILES.values(), MANIFEST])
    assert published.summary["published_to"] == lake.uri(settings.processed_bucket, f"{version}/")
    assert latest_version(settings) == version


def test_run_etl_quarantines_malformed_rows_with_reasons(published):
    settings, version = published.settings, published.summary["dataset_version"]
    lake = lake_from_settings(settings)
    quarantine = parquet_to_frame(
        lake.read_bytes(settings.processed_bucket, f"{version}/{FILES['quarantine']}")
    )
    # Row i of the frame is line i + 2 (all breakages sit before the misaligned record, inserted as line 52).
    assert quarantine[LINE].tolist() == sorted([row + 2 for row, *_ in BREAKAGES] + [MISALIGNED_LINE])
    reasons = dict(zip(quarantine[LINE], quarantine[REASON], strict=True))
    for row, column, _, phrase in BREAKAGES:
        assert reasons[row + 2].startswith(f"{column}: ") and phrase in reasons[row + 2]
    assert reasons[MISALIGNED_LINE] == "record: has 19 fields, expected 18 as in the header"


def test_manifest_describes_the_version(published):
    manifest = load_dataset(published.settings).manifest
    s = published.summary
    assert manifest["dataset_version"] == s["dataset_version"]
    assert manifest["params"] == {"seed": 13, "test_size": 0.2, "etl_version": ETL_VERSION}
    assert manifest["preprocessor_fit_rows"] == s["train_rows"]
    assert manifest["counts"]["rows_in"] == s["rows_in"]
    assert manifest["input"]["bytes"] == published.csv.stat().st_size
    assert (
        manifest["class_balance"]["train"]["Low"] + manifest["class_balance"]["test"]["Low"]
        == (s["class_balance"]["Low"])
    )
    assert manifest["schema"]["raw_features"]["Gender"] == "category"
    assert set(manifest["feature_stats"]["train"]) == set(FEATURES)
    assert manifest["mlflow_run_id"] == s["mlflow_run_id"]
    assert manifest["created_at"].endswith("+00:00")


def test_load_dataset_returns_aligned_splits(published):
    ds = load_dataset(published.settings, published.summary["dataset_version"])
    assert len(ds.X_train) == len(ds.y_train) == len(ds.train_raw) == published.summary["train_rows"]
    assert len(ds.X_test) == len(ds.y_test) == len(ds.test_raw) == published.summary["test_rows"]
    assert ds.X_train.index.equals(ds.y_train.index) and ds.X_train.index.equals(ds.train_raw.index)
    assert set(ds.X_train.index).isdisjoint(ds.X_test.index)
    assert list(ds.train_raw.columns) == list(FEATURES)
    assert set(ds.y_train.unique()) <= set(CLASSES)
    assert ds.train_raw["Resource Allocation"].isna().any()  # raw splits keep their missing values
    assert not ds.X_train.isna().any().any()
    np.testing.assert_allclose(ds.preprocessor.transform(ds.test_raw), ds.X_test.to_numpy())


def test_published_preprocessor_was_fitted_on_train_only(published):
    ds = load_dataset(published.settings)
    numeric = ds.preprocessor.named_transformers_["numeric"]
    train_means = ds.train_raw[list(NUMERIC_FEATURES)].mean()
    all_means = pd.concat([ds.train_raw, ds.test_raw])[list(NUMERIC_FEATURES)].mean()
    np.testing.assert_allclose(numeric["impute"].initial_imputer_.statistics_, train_means)
    assert not np.allclose(numeric["impute"].initial_imputer_.statistics_, all_means)
    assert numeric["scale"].n_samples_seen_ == len(ds.train_raw)

    refit_train = fit_preprocessor(ds.train_raw, seed=13).named_transformers_["numeric"]["scale"]
    refit_all = fit_preprocessor(pd.concat([ds.train_raw, ds.test_raw]), seed=13).named_transformers_[
        "numeric"
    ]
    np.testing.assert_allclose(numeric["scale"].mean_, refit_train.mean_)
    np.testing.assert_allclose(numeric["scale"].scale_, refit_train.scale_)
    assert not np.allclose(numeric["scale"].mean_, refit_all["scale"].mean_)


def test_run_etl_logs_to_mlflow(published):
    settings, summary = published.settings, published.summary
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    run = client.get_run(summary["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == settings.etl_experiment
    assert run.info.status == "FINISHED"
    assert run.data.tags["dataset_version"] == summary["dataset_version"]
    assert run.data.params["seed"] == "13" and run.data.params["test_size"] == "0.2"
    assert run.data.params["extra_columns_ignored"] == "Comment"
    assert run.data.tags["mlflow.note.content"].startswith(
        f"Published dataset version `{summary['dataset_version']}` from "
    )
    assert (
        f"{summary['rows_in']} rows read, {summary['rows_quarantined']} quarantined"
        in (run.data.tags["mlflow.note.content"])
    )
    metrics = run.data.metrics
    assert (
        metrics["rows_in"] == summary["rows_in"]
        and metrics["rows_quarantined"] == summary["rows_quarantined"]
    )
    assert metrics["train_rows"] == summary["train_rows"]
    assert metrics["rows_dropped_missing_target"] == summary["rows_dropped"]["missing_target"]
    ds = load_dataset(settings)
    assert metrics["train_sleep_hours_mean"] == pytest.approx(ds.train_raw["Sleep Hours"].mean())
    assert metrics["train_resource_allocation_missing_rate"] == pytest.approx(
        ds.train_raw["Resource Allocation"].isna().mean()
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"manifest.json", "quarantine.csv"} <= artifacts
    logged = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/manifest.json")
    assert logged == ds.manifest


def test_rerun_on_same_input_reuses_without_rewriting(published, monkeypatch):
    settings = published.settings
    lake_root = Path(settings.lake_root)
    before = {p: p.stat().st_mtime_ns for p in lake_root.rglob("*") if p.is_file()}
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    experiment = mlflow.MlflowClient().get_experiment_by_name(settings.etl_experiment)
    runs_before = len(mlflow.MlflowClient().search_runs([experiment.experiment_id]))

    def refuse(*args, **kwargs):
        raise AssertionError("a reused version must not write to the lake")

    monkeypatch.setattr(LocalLake, "write_bytes", refuse)
    again = run_etl(published.csv, settings)

    assert again == {**published.summary, "reused": True}
    assert {p: p.stat().st_mtime_ns for p in lake_root.rglob("*") if p.is_file()} == before
    assert len(mlflow.MlflowClient().search_runs([experiment.experiment_id])) == runs_before


def test_run_etl_reads_the_raw_object_when_no_input_is_given(published, tmp_path):
    settings = published.settings
    other = write_input(tmp_path / "other.csv", rows=300, seed=8, breakages=[])
    upload_raw(settings, other)
    summary = run_etl(None, settings)
    assert summary["input"] == lake_from_settings(settings).uri(settings.raw_bucket, settings.raw_key)
    assert summary["rows_in"] == 300 and summary["rows_quarantined"] == 0
    assert summary["dataset_version"] != published.summary["dataset_version"]
    assert latest_version(settings) == summary["dataset_version"]


def test_failed_publication_leaves_no_version_and_a_failed_run(published, tmp_path, monkeypatch):
    settings = published.settings
    csv = write_input(tmp_path / "doomed.csv", rows=200, seed=21, breakages=[])

    def crash(*args, **kwargs):
        raise OSError("lake went away")

    monkeypatch.setattr("etl.run_etl.publish_dataset", crash)
    latest_before = latest_version(settings)
    with pytest.raises(OSError, match="lake went away"):
        run_etl(csv, settings)
    assert latest_version(settings) == latest_before
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(settings.etl_experiment)
    newest = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    assert newest.info.status == "FAILED"


def test_run_etl_without_usable_rows_explains_why(published, tmp_path):
    frame = generate_synthetic(20, seed=1)
    frame["Gender"] = "Robot"
    path = tmp_path / "robots.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        InputError, match=r"20 quarantined by field \{'Gender': 20\}.*unknown category 'Robot'"
    ):
        run_etl(path, published.settings)


def test_run_etl_counts_every_line_after_an_unterminated_quote(published, tmp_path):
    # The case: a quote opened on line 11 that never closes used to swallow the 30 lines after it
    # into one quarantined record (rows_in 11 instead of 40).
    lines = generate_synthetic(40, seed=9).to_csv(index=False).splitlines()
    lines[10] = lines[10].replace(",", ',"', 1)
    path = tmp_path / "quote.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = run_etl(path, published.settings)
    assert summary["rows_in"] == 40 and summary["rows_quarantined"] == 1
    assert summary["rows_kept"] + sum(summary["rows_dropped"].values()) == 39
    quarantine = load_quarantine(published.settings, summary["dataset_version"])
    assert quarantine[LINE].tolist() == [11]
    assert quarantine[REASON].iloc[0].startswith("record: unterminated quote starting on line 11")


def test_run_etl_publishes_the_quarantine_when_nothing_is_kept(tmp_path):
    settings = build_settings(tmp_path / "home")
    frame = generate_synthetic(30, seed=2)
    frame["Gender"] = "Robot"
    path = tmp_path / "robots.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no row is left to publish.*quarantine was published to") as caught:
        run_etl(path, settings)

    uri = str(caught.value).rsplit(" ", 1)[-1]
    folder = Path(unquote(urlparse(uri).path)).parent
    assert folder.parent.name == QUARANTINE_PREFIX and uri.endswith(FILES["quarantine"])
    quarantine = parquet_to_frame(Path(unquote(urlparse(uri).path)).read_bytes())
    assert quarantine[LINE].tolist() == list(range(2, 32))
    assert quarantine[REASON].str.startswith("Gender: unknown category 'Robot'").all()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["dataset_published"] is False and manifest["dataset_version"] == folder.name
    assert manifest["counts"]["rows_in"] == manifest["counts"]["rows_quarantined"] == 30
    assert latest_version(settings) is None  # a quarantine alone is not a dataset version


def load_quarantine(settings: Settings, version: str) -> pd.DataFrame:
    lake = lake_from_settings(settings)
    return parquet_to_frame(lake.read_bytes(settings.processed_bucket, f"{version}/{FILES['quarantine']}"))


@pytest.mark.slow
def test_run_etl_on_the_s3_lake(s3_settings, tmp_path):
    csv = write_input(tmp_path / "s3.csv", rows=300, seed=4, breakages=[])
    uri = upload_raw(s3_settings, csv)["uri"]
    summary = run_etl(uri, s3_settings)
    assert summary["input"] == uri
    assert summary["published_to"] == f"s3://{s3_settings.processed_bucket}/{summary['dataset_version']}/"
    ds = load_dataset(s3_settings)
    assert ds.version == summary["dataset_version"] and len(ds.X_train) == summary["train_rows"]
    assert run_etl(uri, s3_settings)["reused"] is True
