"""The minio-init job (dockerfiles/minio-init/init_lake.py) against a real S3 endpoint (moto, server mode)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import boto3
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "dockerfiles" / "minio-init" / "init_lake.py"


@pytest.fixture(scope="module")
def init_lake_module():
    spec = importlib.util.spec_from_file_location("init_lake", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def s3(s3_endpoint):
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


@pytest.fixture
def fresh_settings(make_settings, s3_endpoint):
    """S3 settings whose buckets do not exist yet (the job must create them)."""
    suffix = uuid.uuid4().hex[:8]
    return make_settings(
        lake_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="test",
        raw_bucket=f"raw-{suffix}",
        processed_bucket=f"processed-{suffix}",
        predictions_bucket=f"predictions-{suffix}",
        feedback_bucket=f"feedback-{suffix}",
    )


def test_init_lake_creates_buckets_and_uploads_csvs(init_lake_module, fresh_settings, s3, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / fresh_settings.raw_key).write_text("a,b\n1,2\n")
    (data / "extra.csv").write_text("c\n3\n")
    artifacts = f"mlflow-{uuid.uuid4().hex[:8]}"

    summary = init_lake_module.init_lake(fresh_settings, data, [artifacts], tmp_path / "work")

    assert summary["buckets_created"] == [
        fresh_settings.raw_bucket,
        fresh_settings.processed_bucket,
        fresh_settings.predictions_bucket,
        fresh_settings.feedback_bucket,
        artifacts,
    ]
    assert sorted(summary["uploaded"]) == sorted([fresh_settings.raw_key, "extra.csv"])
    body = s3.get_object(Bucket=fresh_settings.raw_bucket, Key=fresh_settings.raw_key)["Body"].read()
    assert body == b"a,b\n1,2\n"
    s3.head_bucket(Bucket=artifacts)


def test_init_lake_second_run_changes_nothing(init_lake_module, fresh_settings, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / fresh_settings.raw_key).write_text("a\n1\n")
    init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work")

    summary = init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work")

    assert summary["buckets_created"] == [] and summary["uploaded"] == []
    assert summary["unchanged"] == [fresh_settings.raw_key]


def test_init_lake_replaces_changed_dataset(init_lake_module, fresh_settings, s3, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / fresh_settings.raw_key).write_text("a\n1\n")
    init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work")
    (data / fresh_settings.raw_key).write_text("a\n1\n2\n")

    summary = init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work")

    assert summary["uploaded"] == [fresh_settings.raw_key]
    assert (
        s3.get_object(Bucket=fresh_settings.raw_bucket, Key=fresh_settings.raw_key)["Body"].read()
        == b"a\n1\n2\n"
    )


def test_init_lake_uploads_lone_csv_as_raw_object(init_lake_module, fresh_settings, s3, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "kaggle_download.csv").write_text("a\n1\n")

    summary = init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work")

    assert sorted(summary["uploaded"]) == sorted(["kaggle_download.csv", fresh_settings.raw_key])
    assert (
        s3.get_object(Bucket=fresh_settings.raw_bucket, Key=fresh_settings.raw_key)["Body"].read()
        == b"a\n1\n"
    )


def test_init_lake_generates_dataset_when_data_dir_is_empty(init_lake_module, fresh_settings, s3, tmp_path):
    data = tmp_path / "data"
    data.mkdir()

    summary = init_lake_module.init_lake(fresh_settings, data, [], tmp_path / "work", rows=200)

    assert summary["generated"] == str(tmp_path / "work" / fresh_settings.raw_key)
    assert summary["uploaded"] == [fresh_settings.raw_key]
    body = s3.get_object(Bucket=fresh_settings.raw_bucket, Key=fresh_settings.raw_key)["Body"].read().decode()
    assert len(body.strip().splitlines()) == 201  # header + rows


def test_init_lake_refuses_local_lake(init_lake_module, settings, tmp_path):
    with pytest.raises(SystemExit, match="BURNOUT_LAKE_BACKEND=s3"):
        init_lake_module.init_lake(settings, tmp_path, [], tmp_path / "work")
