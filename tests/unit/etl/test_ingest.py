"""Getting raw bytes in: the raw object is uploaded once and never overwritten, and the ETL's input can be a
path, a file:// URI, an s3:// URI or the raw object in the lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.errors import InputError
from etl.ingest import find_raw_csv, ingest_raw_data, read_input, upload_raw
from etl.lake import lake_from_settings


def test_upload_raw_uploads_once_then_keeps_the_existing_object(settings, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(b"a,b\n1,2\n")
    second.write_bytes(b"a,b\n3,4\n")
    lake = lake_from_settings(settings)

    result = upload_raw(settings, first)
    assert result == {"uri": lake.uri(settings.raw_bucket, settings.raw_key), "uploaded": True}
    assert upload_raw(settings, second) == {**result, "uploaded": False}
    assert lake.read_bytes(settings.raw_bucket, settings.raw_key) == b"a,b\n1,2\n"


def test_upload_raw_to_s3(s3_settings, tmp_path):
    path = tmp_path / "raw.csv"
    path.write_bytes(b"x\n1\n")
    result = upload_raw(s3_settings, path)
    assert result == {"uri": f"s3://{s3_settings.raw_bucket}/{s3_settings.raw_key}", "uploaded": True}
    assert read_input(s3_settings, result["uri"]) == (b"x\n1\n", result["uri"])


def test_upload_raw_missing_file_is_an_input_error(settings, tmp_path):
    with pytest.raises(InputError, match="not found"):
        upload_raw(settings, tmp_path / "nope.csv")


def test_read_input_from_path_and_file_uri(settings, tmp_path):
    path = tmp_path / "my data.csv"
    path.write_bytes(b"payload")
    assert read_input(settings, path) == (b"payload", path.as_uri())
    assert read_input(settings, path.as_uri()) == (b"payload", path.as_uri())


def test_read_input_none_reads_the_raw_object(settings, tmp_path):
    with pytest.raises(InputError, match="no raw dataset"):
        read_input(settings, None)
    path = tmp_path / "raw.csv"
    path.write_bytes(b"raw bytes")
    uri = upload_raw(settings, path)["uri"]
    assert read_input(settings, None) == (b"raw bytes", uri)


def test_read_input_reports_missing_inputs_clearly(settings, s3_settings, tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        read_input(settings, tmp_path / "absent.csv")
    with pytest.raises(InputError, match="not a file"):
        read_input(settings, tmp_path)
    with pytest.raises(InputError, match=f"input not found: s3://{s3_settings.raw_bucket}/absent.csv"):
        read_input(s3_settings, f"s3://{s3_settings.raw_bucket}/absent.csv")


def test_read_input_unreachable_s3_is_an_input_error(make_settings):
    settings = make_settings(s3_endpoint_url="http://127.0.0.1:9", s3_access_key="k", s3_secret_key="s")
    with pytest.raises(InputError, match="cannot read s3://raw/x.csv"):
        read_input(settings, "s3://raw/x.csv")


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
