"""run_etl on the lake's raw object plus labelled records (etl.labelled, written by model_quality): a new
labelled file publishes a new dataset version whose train + test hold its rows, a re-run without a new file
reuses that version, an explicit input reads only its own file, and a labelled row with a bad Burn Rate is
quarantined and traced to its file and line through the manifest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from burnout_base.settings import Settings
from etl.contract import FEATURES, TARGET
from etl.dataset import latest_version, load_dataset
from etl.ingest import upload_raw
from etl.labelled import write_labelled_records
from etl.lake import lake_from_settings
from etl.publish import FILES, parquet_to_frame
from etl.quarantine import LINE, REASON
from etl.run_etl import run_etl
from etl.synthetic import generate_synthetic

RAW_ROWS, LABELLED_ROWS = 400, 60


def matched_records(rows: int, seed: int) -> pd.DataFrame:
    """Records as model_quality would have them: observed Burn Rate, no missing target."""
    return generate_synthetic(rows * 2, seed=seed).dropna(subset=[TARGET]).head(rows).reset_index(drop=True)


def all_lines(settings: Settings, version: str) -> set[int]:
    dataset = load_dataset(settings, version)
    return set(dataset.train_raw.index) | set(dataset.test_raw.index)


def lake_with_raw(root: Path, rows: int) -> Settings:
    """Embedded settings under `root` with `rows` synthetic records as the lake's raw object."""
    settings = Settings(_env_file=None, home=root / "home", seed=11)
    settings.ensure_home()
    raw_csv = root / "raw.csv"
    generate_synthetic(rows, seed=3).to_csv(raw_csv, index=False)
    upload_raw(settings, raw_csv)
    return settings


@pytest.fixture(scope="module")
def lake_with_labels(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("etl-labelled")
    settings, raw_csv = lake_with_raw(root, RAW_ROWS), root / "raw.csv"
    before = run_etl(None, settings)
    labelled_uri = write_labelled_records(settings, matched_records(LABELLED_ROWS, seed=4))
    after = run_etl(None, settings)
    return SimpleNamespace(
        settings=settings, raw_csv=raw_csv, before=before, after=after, labelled_uri=labelled_uri
    )


def test_a_labelled_file_gives_a_new_version_with_its_rows(lake_with_labels):
    before, after, settings = lake_with_labels.before, lake_with_labels.after, lake_with_labels.settings
    assert after["reused"] is False
    assert after["dataset_version"] != before["dataset_version"]
    assert latest_version(settings) == after["dataset_version"]
    assert after["rows_in"] == before["rows_in"] + LABELLED_ROWS
    assert after["rows_quarantined"] == before["rows_quarantined"] == 0
    assert (
        after["train_rows"] + after["test_rows"] == before["train_rows"] + before["test_rows"] + LABELLED_ROWS
    )
    assert after["input"] == before["input"]  # the raw object names the input; the manifest lists the rest

    manifest = load_dataset(settings, after["dataset_version"]).manifest
    (part,) = manifest["input"]["labelled"]
    assert part["uri"] == lake_with_labels.labelled_uri
    labelled_lines = set(range(part["first_line"], part["last_line"] + 1))
    assert len(labelled_lines) == LABELLED_ROWS and min(labelled_lines) == RAW_ROWS + 2
    lines = all_lines(settings, after["dataset_version"])
    assert labelled_lines <= lines
    assert lines - labelled_lines == all_lines(settings, before["dataset_version"])


def test_the_labelled_rows_keep_their_features_and_observed_burn_rate(lake_with_labels):
    settings, version = lake_with_labels.settings, lake_with_labels.after["dataset_version"]
    dataset = load_dataset(settings, version)
    raw = pd.concat([dataset.train_raw, dataset.test_raw])
    labelled = raw[raw.index >= RAW_ROWS + 2].sort_index()
    expected = matched_records(LABELLED_ROWS, seed=4)
    assert labelled["Gender"].astype(str).tolist() == expected["Gender"].tolist()
    pd.testing.assert_series_equal(
        labelled["Sleep Hours"].astype(float).reset_index(drop=True),
        expected["Sleep Hours"].astype(float),
        check_names=False,
    )
    assert list(dataset.train_raw.columns) == list(FEATURES)


def test_rerun_without_a_new_file_reuses_the_version(lake_with_labels):
    again = run_etl(None, lake_with_labels.settings)
    assert again == {**lake_with_labels.after, "reused": True}


def test_an_explicit_input_ignores_labelled_files(lake_with_labels):
    explicit = run_etl(lake_with_labels.raw_csv, lake_with_labels.settings)
    # The raw file alone: the bytes (and so the version) of the run before any labelled file existed.
    assert explicit["dataset_version"] == lake_with_labels.before["dataset_version"]
    assert explicit["rows_in"] == RAW_ROWS and explicit["reused"] is True


def test_a_bad_labelled_row_is_quarantined_and_traced_to_its_file(tmp_path):
    settings = lake_with_raw(tmp_path, rows=200)
    first = write_labelled_records(settings, matched_records(8, seed=5))
    frame = matched_records(10, seed=6)
    frame[TARGET] = frame[TARGET].astype(object)
    frame.loc[3, TARGET] = 1.7  # the labelled file's line 5 (header, then rows 0..)
    second = write_labelled_records(settings, frame)

    summary = run_etl(None, settings)

    assert summary["rows_quarantined"] == 1 and summary["rows_in"] == 200 + 8 + 10
    version = summary["dataset_version"]
    quarantine = parquet_to_frame(
        lake_from_settings(settings).read_bytes(settings.processed_bucket, f"{version}/{FILES['quarantine']}")
    )
    assert quarantine[REASON].tolist() == ["Burn Rate: 1.7 is above the maximum 1"]
    parts = load_dataset(settings, version).manifest["input"]["labelled"]
    assert [p["uri"] for p in parts] == [first, second]  # key order: oldest first
    line = int(quarantine[LINE].iloc[0])
    (holder,) = [p for p in parts if p["first_line"] <= line <= p["last_line"]]
    assert holder["uri"] == second and line - holder["line_offset"] == 5


def test_records_with_only_features_and_burn_rate_reach_the_dataset(tmp_path):
    settings = lake_with_raw(tmp_path, rows=200)
    records = matched_records(20, seed=8)[["Employee ID", *FEATURES, TARGET]]
    records.loc[0, "Employee ID"] = None
    write_labelled_records(settings, records)

    summary = run_etl(None, settings)

    assert summary["rows_quarantined"] == 0
    assert summary["rows_in"] == 220


def test_labelled_files_do_not_touch_the_raw_object(lake_with_labels):
    settings = lake_with_labels.settings
    lake = lake_from_settings(settings)
    assert (
        lake.read_bytes(settings.raw_bucket, settings.raw_key) == Path(lake_with_labels.raw_csv).read_bytes()
    )
