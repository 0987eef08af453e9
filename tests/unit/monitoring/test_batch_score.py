"""Batch scoring on small synthetic files with a small registered model (embedded MLflow): every row is
scored or quarantined with its reasons, predictions sit beside the id column with the pipeline's own
probabilities, CSV and Parquet give the same answers, and the run is logged to MLflow."""

from __future__ import annotations

import socket

import mlflow
import numpy as np
import pandas as pd
import pytest

from etl.contract import CLASSES, FEATURES
from etl.errors import InputError
from etl.synthetic import generate_synthetic
from modeling.model_io import load_model
from monitoring.batch_score import plan_scoring, score_file
from monitoring.prediction_log import MODEL_VERSION, PREDICTED_CLASS, PROBABILITY_COLUMNS
from monitoring.score_accounting import AccountsDoNotBalance, check_accounts
from monitoring.score_input import ID_COLUMN
from tests.integration.serving_support import register_synthetic_model

ROWS = 300


@pytest.fixture
def champion(settings):
    """A small LightGBM pipeline registered as champion; returns (version, pipeline)."""
    version = register_synthetic_model(settings, aliases=("champion",), rows=400)
    return version, load_model(f"models:/{settings.registered_model_name}/{version}")


@pytest.fixture
def frame() -> pd.DataFrame:
    return generate_synthetic(rows=ROWS, seed=11)


def read_csv_parts(folder) -> pd.DataFrame:
    """A CSV output: one part per partition, in order."""
    return pd.concat([pd.read_csv(part) for part in sorted(folder.glob("part-*.csv"))], ignore_index=True)


def expected_probabilities(pipeline, rows: pd.DataFrame) -> np.ndarray:
    proba = pipeline.predict_proba(rows[list(FEATURES)])
    return proba[:, [list(pipeline.classes_).index(c) for c in CLASSES]]


def test_score_csv_accounts_for_every_row_and_quarantines_bad_ones(settings, champion, frame, tmp_path):
    version, pipeline = champion
    source = tmp_path / "employees.csv"
    lines = frame.to_csv(index=False).splitlines()
    lines[3] = lines[3].replace("Female", "Robot", 1).replace("Male", "Robot", 1)  # unknown category
    lines[7] = lines[7] + ",one too many"  # not a record
    lines.insert(10, "")  # a blank line: not a row
    source.write_text("\n".join(lines) + "\n")

    summary = score_file(settings, str(source), str(tmp_path / "out" / "scores.parquet"))

    assert summary["rows_in"] == ROWS
    assert (summary["rows_scored"], summary["rows_quarantined"], summary["blank_lines"]) == (ROWS - 2, 2, 1)
    assert summary["model_version"] == version and summary["fast_path"] is True
    quarantine = pd.read_parquet(tmp_path / "out" / "scores.quarantine.parquet")
    assert quarantine["line"].tolist() == [4, 8]
    assert quarantine["reason"][0].startswith("Gender: unknown category 'Robot'")
    assert "has 18 fields, expected 17" in quarantine["reason"][1]
    assert quarantine["record"][1] == lines[7]
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert list(scores.columns) == [ID_COLUMN, "line", PREDICTED_CLASS, *PROBABILITY_COLUMNS, MODEL_VERSION]
    kept = frame.drop(index=[2, 6]).reset_index(drop=True)  # data rows 2 and 6 are on lines 4 and 8
    assert scores[ID_COLUMN].tolist() == kept[ID_COLUMN].tolist()
    expected = expected_probabilities(pipeline, kept)
    assert np.abs(scores[list(PROBABILITY_COLUMNS)].to_numpy() - expected).max() <= 1e-9
    assert scores[PREDICTED_CLASS].tolist() == list(pipeline.predict(kept[list(FEATURES)]))
    assert (scores[MODEL_VERSION] == version).all()

    run = mlflow.MlflowClient().get_run(summary["mlflow_run_id"])
    assert run.data.metrics["rows_in"] == ROWS and run.data.metrics["rows_quarantined"] == 2
    assert run.data.tags["model_version"] == str(version)
    assert run.data.tags["mlflow.note.content"].startswith(f"Scored `{source.as_uri()}` with ")
    assert f"v{version}, " in run.data.tags["mlflow.note.content"]
    assert f"{ROWS - 2} of {ROWS} rows scored, 2 quarantined" in run.data.tags["mlflow.note.content"]
    experiment = mlflow.MlflowClient().get_experiment(run.info.experiment_id)
    assert experiment.name == settings.scoring_experiment == "burnout-scoring"


def test_parquet_input_scores_like_its_csv(settings, champion, frame, tmp_path):
    frame.to_csv(tmp_path / "employees.csv", index=False)
    frame.to_parquet(tmp_path / "employees.parquet", index=False, row_group_size=100)

    from_csv = score_file(settings, str(tmp_path / "employees.csv"), str(tmp_path / "a.csv"))
    parquet = str(tmp_path / "employees.parquet")
    from_parquet = score_file(settings, parquet, str(tmp_path / "b.csv"), partition_bytes=1024)

    assert from_csv["rows_scored"] == from_parquet["rows_scored"] == ROWS
    assert from_parquet["partitions"] == 3  # one per row group
    a, b = read_csv_parts(tmp_path / "a.csv"), read_csv_parts(tmp_path / "b.csv")
    assert np.array_equal(a[list(PROBABILITY_COLUMNS)], b[list(PROBABILITY_COLUMNS)])
    assert b["line"].tolist() == list(range(1, ROWS + 1))  # Parquet rows count from 1, CSV lines from 2


def test_parquet_rows_breaking_the_contract_are_quarantined(settings, champion, frame, tmp_path):
    frame.loc[5, "Sleep Hours"] = 30.0
    frame.loc[9, "Gender"] = None
    frame.to_parquet(tmp_path / "employees.parquet", index=False)

    summary = score_file(settings, str(tmp_path / "employees.parquet"), str(tmp_path / "scores.parquet"))

    assert (summary["rows_scored"], summary["rows_quarantined"]) == (ROWS - 2, 2)
    assert summary["problems"] == {"Gender": 1, "Sleep Hours": 1}
    quarantine = pd.read_parquet(tmp_path / "scores.quarantine.parquet")
    assert quarantine["line"].tolist() == [6, 10]
    assert quarantine["reason"].tolist() == [
        "Sleep Hours: 30 is above the maximum 24",
        "Gender: missing (required)",
    ]


def test_input_with_features_only_is_scored_without_id(settings, champion, frame, tmp_path):
    frame[list(FEATURES)].to_csv(tmp_path / "features.csv", index=False)

    summary = score_file(settings, str(tmp_path / "features.csv"), str(tmp_path / "scores.csv"))

    assert summary["rows_scored"] == ROWS
    assert ID_COLUMN not in read_csv_parts(tmp_path / "scores.csv").columns


def test_default_output_is_beside_the_input(settings, champion, frame, tmp_path):
    frame.to_csv(tmp_path / "employees.csv", index=False)

    summary = score_file(settings, str(tmp_path / "employees.csv"))

    assert summary["output"] == (tmp_path / "employees.predictions.parquet").as_uri()
    assert len(pd.read_parquet(tmp_path / "employees.predictions.parquet")) == ROWS
    assert (tmp_path / "employees.predictions.quarantine.parquet" / "part-00000.parquet").is_file()


def test_missing_feature_column_is_refused_by_name(settings, frame, tmp_path):
    frame.drop(columns=["Sleep Hours"]).to_csv(tmp_path / "employees.csv", index=False)
    with pytest.raises(InputError, match="missing feature column.*Sleep Hours"):
        score_file(settings, str(tmp_path / "employees.csv"), str(tmp_path / "scores.parquet"))


def test_scoring_without_a_champion_says_so(settings, frame, tmp_path):
    frame.to_csv(tmp_path / "employees.csv", index=False)
    with pytest.raises(InputError, match="has alias 'champion'"):
        score_file(settings, str(tmp_path / "employees.csv"), str(tmp_path / "scores.parquet"))


@pytest.mark.parametrize("output", ["scores.json", "employees.csv"])
def test_bad_outputs_are_refused_before_scoring(settings, frame, tmp_path, output):
    frame.to_csv(tmp_path / "employees.csv", index=False)
    with pytest.raises(InputError, match="must end in .parquet or .csv|would overwrite the input"):
        score_file(settings, str(tmp_path / "employees.csv"), str(tmp_path / output))


def test_score_from_and_to_s3(s3_settings, frame):
    import boto3

    version = register_synthetic_model(s3_settings, aliases=("champion",), rows=400)
    lake = boto3.client(
        "s3",
        endpoint_url=s3_settings.s3_endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    bucket = s3_settings.raw_bucket
    lake.put_object(Bucket=bucket, Key="batch/employees.csv", Body=frame.to_csv(index=False).encode())

    body = frame.to_csv(index=False).encode()
    # Two partitions, each read with ranged GETs.
    summary = score_file(s3_settings, f"s3://{bucket}/batch/employees.csv", partition_bytes=len(body) // 2)

    assert summary["output"] == f"s3://{bucket}/batch/employees.predictions.parquet"
    assert summary["model_version"] == version and summary["rows_scored"] == ROWS
    keys = {o["Key"] for o in lake.list_objects_v2(Bucket=bucket, Prefix="batch/")["Contents"]}
    assert summary["partitions"] == 2
    assert keys == {
        "batch/employees.csv",
        *(f"batch/employees.predictions.parquet/part-0000{i}.parquet" for i in (0, 1)),
        *(f"batch/employees.predictions.quarantine.parquet/part-0000{i}.parquet" for i in (0, 1)),
    }

    again = score_file(s3_settings, f"s3://{bucket}/batch/employees.csv")  # one partition: the old part goes
    assert again["partitions"] == 1
    keys = {o["Key"] for o in lake.list_objects_v2(Bucket=bucket, Prefix="batch/")["Contents"]}
    assert "batch/employees.predictions.parquet/part-00001.parquet" not in keys


def test_partitioned_scoring_equals_one_pass(settings, champion, frame, tmp_path):
    source = tmp_path / "employees.csv"
    lines = frame.to_csv(index=False).splitlines()
    lines[150] = lines[150].replace("Female", "Robot", 1).replace("Male", "Robot", 1)  # quarantined
    lines[200:200] = ["", '"unterminated,' + lines[200]]  # a blank line and a malformed one
    source.write_text("\r\n".join(lines))  # CRLF, and no newline at the end

    one = score_file(settings, str(source), str(tmp_path / "one.parquet"))
    parts = score_file(settings, str(source), str(tmp_path / "parts.parquet"), partition_bytes=4096)

    assert one["partitions"] == 1 and parts["partitions"] == -(-source.stat().st_size // 4096)
    assert list(parts["hosts"]) == [socket.gethostname()]
    assert sorted(sum(parts["hosts"].values(), [])) == list(range(parts["partitions"]))
    keys = ("rows_in", "rows_scored", "rows_quarantined", "blank_lines", "problems", "predicted")
    assert {k: parts[k] for k in keys} == {k: one[k] for k in keys}
    assert (parts["rows_in"], parts["rows_quarantined"], parts["blank_lines"]) == (ROWS + 1, 2, 1)
    scores = pd.read_parquet(tmp_path / "parts.parquet")
    pd.testing.assert_frame_equal(scores, pd.read_parquet(tmp_path / "one.parquet"))
    assert scores["line"].iloc[-1] == ROWS + 3  # the file's own last line: header, a blank line, a malformed
    quarantine = pd.read_parquet(tmp_path / "parts.quarantine.parquet")
    assert quarantine["line"].tolist() == [151, 202]
    pd.testing.assert_frame_equal(quarantine, pd.read_parquet(tmp_path / "one.quarantine.parquet"))

    again = score_file(settings, str(source), str(tmp_path / "parts.parquet"))  # fewer partitions now
    assert again["partitions"] == 1
    assert len(pd.read_parquet(tmp_path / "parts.parquet")) == ROWS - 1  # no part of the earlier run left


def test_missing_input_fails_in_the_plan_naming_it(settings, tmp_path):
    with pytest.raises(InputError, match=f"input file not found: {tmp_path / 'absent.csv'}"):
        plan_scoring(settings, str(tmp_path / "absent.csv"))


def test_books_that_do_not_balance_fail_loudly():
    plan = {
        "input": "file:///in.csv",
        "output": "file:///out.parquet",
        "quarantine": "file:///out.quarantine.parquet",
        "model": {"model_version": 1},
        "lines": 10,
        "partitions": [{"index": 0, "lines": 6}, {"index": 1, "lines": 4}],
    }
    result = {
        "rows_quarantined": 0,
        "blank_lines": 0,
        "problems": {},
        "predicted": {},
        "fast_path": True,
        "seconds": 1,
    }
    first = {**result, "index": 0, "name": "part-00000", "rows_scored": 6, "host": "a"}
    second = {**result, "index": 1, "name": "part-00001", "rows_scored": 4, "host": "b"}

    assert check_accounts(plan, [second, first])["hosts"] == {"a": [0], "b": [1]}
    with pytest.raises(AccountsDoNotBalance, match="part-00001: 3 scored .* the plan counted 4"):
        check_accounts(plan, [first, {**second, "rows_scored": 3}])
    with pytest.raises(AccountsDoNotBalance, match=r"partitions scored \[0\], planned \[0, 1\]"):
        check_accounts(plan, [first])
    with pytest.raises(AccountsDoNotBalance, match="partitions scored"):
        check_accounts(plan, [first, first, second])
