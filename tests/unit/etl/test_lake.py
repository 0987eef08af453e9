"""Both lake implementations behave alike (round trip, existence, listing, URIs, missing objects), the
local one writes atomically, and the S3 one works against a real S3-compatible endpoint (moto server mode)."""

from __future__ import annotations

import os

import pytest

from etl.errors import InputError
from etl.lake import Lake, LocalLake, S3Lake, lake_from_settings, parse_s3_uri


@pytest.fixture(params=["local", "s3"])
def lake_and_bucket(request, tmp_path) -> tuple[Lake, str]:
    if request.param == "local":
        return LocalLake(tmp_path / "lake"), "processed"
    settings = request.getfixturevalue("s3_settings")
    return lake_from_settings(settings), settings.processed_bucket


def test_write_then_read_round_trip(lake_and_bucket):
    lake, bucket = lake_and_bucket
    uri = lake.write_bytes(bucket, "v1/data.bin", b"\x00payload")
    assert lake.read_bytes(bucket, "v1/data.bin") == b"\x00payload"
    assert uri == lake.uri(bucket, "v1/data.bin")


def test_write_replaces_existing_object(lake_and_bucket):
    lake, bucket = lake_and_bucket
    lake.write_bytes(bucket, "k.txt", b"old")
    lake.write_bytes(bucket, "k.txt", b"new")
    assert lake.read_bytes(bucket, "k.txt") == b"new"


def test_exists_reports_presence(lake_and_bucket):
    lake, bucket = lake_and_bucket
    assert not lake.exists(bucket, "a/b.csv")
    lake.write_bytes(bucket, "a/b.csv", b"x")
    assert lake.exists(bucket, "a/b.csv")
    assert not lake.exists("no-such-bucket-here", "a/b.csv")


def test_list_keys_filters_by_prefix_and_sorts(lake_and_bucket):
    lake, bucket = lake_and_bucket
    for key in ("v2/x", "v1/b", "v1/a", "other"):
        lake.write_bytes(bucket, key, b"1")
    assert lake.list_keys(bucket) == ["other", "v1/a", "v1/b", "v2/x"]
    assert lake.list_keys(bucket, prefix="v1/") == ["v1/a", "v1/b"]
    assert lake.list_keys("no-such-bucket-here") == []


def test_read_missing_object_raises_file_not_found_with_uri(lake_and_bucket):
    lake, bucket = lake_and_bucket
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        lake.read_bytes(bucket, "missing.csv")


def test_implementations_satisfy_the_protocol(lake_and_bucket):
    assert isinstance(lake_and_bucket[0], Lake)


def test_local_lake_lays_out_a_folder_per_bucket(tmp_path):
    lake = LocalLake(tmp_path)
    lake.write_bytes("raw", "data/file.csv", b"abc")
    assert (tmp_path / "raw" / "data" / "file.csv").read_bytes() == b"abc"
    assert lake.uri("raw", "data/file.csv") == (tmp_path / "raw" / "data" / "file.csv").as_uri()
    assert lake.uri("raw") == (tmp_path / "raw").as_uri() + "/"
    assert lake.uri("raw", "v1/").endswith("/raw/v1/")


def test_local_lake_failed_write_leaves_old_content_and_no_partial_file(tmp_path, monkeypatch):
    lake = LocalLake(tmp_path)
    lake.write_bytes("b", "k", b"complete")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        lake.write_bytes("b", "k", b"half")
    monkeypatch.undo()
    assert lake.read_bytes("b", "k") == b"complete"
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["k"]


def test_local_lake_hides_partial_files_from_listing(tmp_path):
    lake = LocalLake(tmp_path)
    lake.write_bytes("b", "v1/X.parquet", b"1")
    (tmp_path / "b" / "v1" / ".manifest.json.123.partial").write_bytes(b"{")
    assert lake.list_keys("b") == ["v1/X.parquet"]
    assert not lake.exists("b", "v1/manifest.json")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_local_lake_rejects_keys_outside_the_bucket(tmp_path, key):
    with pytest.raises(ValueError, match="invalid lake key"):
        LocalLake(tmp_path).write_bytes("b", key, b"x")


def test_s3_lake_creates_missing_bucket_on_first_write(s3_settings):
    lake = lake_from_settings(s3_settings)
    assert isinstance(lake, S3Lake)
    lake.write_bytes("fresh-bucket-" + s3_settings.raw_bucket, "k", b"v")
    assert lake.read_bytes("fresh-bucket-" + s3_settings.raw_bucket, "k") == b"v"
    assert lake.uri("b", "k/x.csv") == "s3://b/k/x.csv"


def test_s3_lake_creates_no_client_until_used():
    lake = S3Lake("http://127.0.0.1:9", "key", "secret")  # nothing listens there
    assert "client" not in vars(lake)
    assert lake.uri("raw", "x.csv") == "s3://raw/x.csv"


def test_lake_from_settings_selects_local_by_default(settings):
    lake = lake_from_settings(settings)
    assert isinstance(lake, LocalLake) and lake.root == settings.lake_root


def test_parse_s3_uri_splits_bucket_and_key():
    assert parse_s3_uri("s3://raw/folder/data.csv") == ("raw", "folder/data.csv")


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3:///key", "http://b/k", "raw/key"])
def test_parse_s3_uri_rejects_non_object_uris(uri):
    with pytest.raises(InputError, match="s3://bucket/key"):
        parse_s3_uri(uri)


def test_read_range_returns_exactly_the_bytes_asked_for(lake_and_bucket):
    lake, bucket = lake_and_bucket
    lake.write_bytes(bucket, "big.csv", b"0123456789")
    assert lake.size(bucket, "big.csv") == 10
    assert lake.read_range(bucket, "big.csv", 2, 5) == b"234"
    assert lake.read_range(bucket, "big.csv", 8, 100) == b"89"  # past the end: what there is
    assert lake.read_range(bucket, "big.csv", 4, 4) == b""
    assert lake.read_range(bucket, "big.csv", 10, 20) == b""
    with pytest.raises(ValueError, match="invalid byte range"):
        lake.read_range(bucket, "big.csv", 5, 2)


def test_ranged_reads_of_a_missing_object_name_it(lake_and_bucket):
    lake, bucket = lake_and_bucket
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        lake.size(bucket, "missing.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        lake.read_range(bucket, "missing.csv", 0, 10)
