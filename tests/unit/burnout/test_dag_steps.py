"""The library steps behind the DAG tasks: ingesting the raw CSV, choosing the budget and the dataset
version, and values fit for XCom."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from burnout.dag_steps import find_raw_csv, ingest_raw_data, pick_dataset_version, resolve_budget, to_plain
from etl.errors import InputError
from etl.lake import lake_from_settings


def test_ingest_generates_synthetic_csv_under_home_and_leaves_data_dir_alone(make_settings, tmp_path):
    # The stack mounts data/ read-only: generating must not write there.
    data = tmp_path / "data"
    data.mkdir()
    settings = make_settings(data_dir=data, synthetic_rows=50)

    first = ingest_raw_data(settings)

    assert first["generated"] and first["uploaded"]
    assert list(data.iterdir()) == []
    csv = settings.home / "generated" / settings.raw_key
    assert first["source"] == str(csv)
    assert csv.is_file() and len(csv.read_text().splitlines()) == 51  # header + rows
    assert lake_from_settings(settings).read_bytes(settings.raw_bucket, settings.raw_key) == csv.read_bytes()


def test_ingest_again_leaves_raw_object_alone(make_settings, tmp_path):
    settings = make_settings(data_dir=tmp_path / "data", synthetic_rows=50)
    generated = Path(ingest_raw_data(settings)["source"])
    generated.unlink()  # a second run must not need (or regenerate) the CSV

    again = ingest_raw_data(settings)

    assert again == {"uri": again["uri"], "uploaded": False, "source": None, "generated": False}
    assert not generated.exists()


def test_ingest_uploads_the_csv_found_in_data_dir(make_settings, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mine.csv").write_text("a,b\n1,2\n")
    settings = make_settings(data_dir=data)

    result = ingest_raw_data(settings)

    assert result["uploaded"] and not result["generated"] and result["source"].endswith("mine.csv")
    assert lake_from_settings(settings).read_bytes(settings.raw_bucket, settings.raw_key) == b"a,b\n1,2\n"


def test_ingest_skips_when_an_explicit_input_is_given(make_settings, tmp_path):
    settings = make_settings(data_dir=tmp_path / "data")

    result = ingest_raw_data(settings, input="s3://elsewhere/data.csv")

    assert result["uploaded"] is False and result["uri"] == "s3://elsewhere/data.csv"
    assert not (tmp_path / "data").exists()


def test_find_raw_csv_prefers_the_raw_key_name(tmp_path):
    for name in ("other.csv", "raw.csv"):
        (tmp_path / name).write_text("x\n")

    assert find_raw_csv(tmp_path, "raw.csv") == tmp_path / "raw.csv"


def test_find_raw_csv_refuses_to_guess_between_several(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("x\n")

    with pytest.raises(InputError, match=r"several CSVs \(a.csv, b.csv\)"):
        find_raw_csv(tmp_path, "raw.csv")


def test_find_raw_csv_returns_none_without_csv(tmp_path):
    assert find_raw_csv(tmp_path / "missing", "raw.csv") is None


def test_resolve_budget_prefers_form_then_variables_then_settings(make_settings):
    settings = make_settings(tuning_trials=7, tuning_timeout_s=100.0)
    variables = {"trials": "4", "timeout_s": "30"}

    assert resolve_budget(settings) == {"trials": 7, "timeout_s": 100.0}
    assert resolve_budget(settings, variables=variables) == {"trials": 4, "timeout_s": 30.0}
    assert resolve_budget(settings, 2, 5.0, variables) == {"trials": 2, "timeout_s": 5.0}
    assert resolve_budget(settings, None, None, {"trials": "", "timeout_s": None})["trials"] == 7


def test_resolve_budget_names_the_bad_variable(make_settings):
    with pytest.raises(InputError, match="trials.*'many'"):
        resolve_budget(make_settings(), variables={"trials": "many"})


def test_resolve_budget_rejects_zero_trials(make_settings):
    with pytest.raises(InputError, match="at least 1"):
        resolve_budget(make_settings(), trials=0)


def test_pick_dataset_version_prefers_request_then_newest_event():
    assert pick_dataset_version("v-asked", ["v1", "v2"]) == "v-asked"
    assert pick_dataset_version(None, ["v1", None, "v2"]) == "v2"
    assert pick_dataset_version("", []) is None


def test_to_plain_turns_numpy_into_json_types():
    value = to_plain({"f1": np.float64(0.5), "n": np.int64(3), "nested": [np.float32(1.5)]})

    assert value == {"f1": 0.5, "n": 3, "nested": [1.5]}
    assert json.dumps(value)
