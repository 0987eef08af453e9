"""Publishing: the version is a content hash of input and parameters, files land before the manifest, a
version without its manifest does not exist for readers, and a quarantine published alone is not a version."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from etl.dataset import latest_version, load_dataset
from etl.errors import InputError
from etl.lake import LocalLake, lake_from_settings
from etl.publish import (
    FILES,
    MANIFEST,
    QUARANTINE_PREFIX,
    compute_dataset_version,
    frame_to_parquet,
    list_manifests,
    parquet_to_frame,
    publish_dataset,
    publish_quarantine,
    read_manifest,
)

PARAMS = {"seed": 1, "test_size": 0.2, "etl_version": 1}


def _manifest(version: str, created_at: str) -> dict:
    return {"dataset_version": version, "created_at": created_at}


def test_version_depends_on_input_bytes_and_parameters():
    version = compute_dataset_version(b"a,b\n1,2\n", PARAMS)
    assert version == compute_dataset_version(b"a,b\n1,2\n", dict(reversed(PARAMS.items())))
    assert version != compute_dataset_version(b"a,b\n1,3\n", PARAMS)
    assert version != compute_dataset_version(b"a,b\n1,2\n", {**PARAMS, "seed": 2})
    assert version != compute_dataset_version(b"a,b\n1,2\n", {**PARAMS, "test_size": 0.3})
    assert len(version) == 16 and int(version, 16) >= 0


def test_publish_writes_the_manifest_last(tmp_path):
    lake = LocalLake(tmp_path)
    written: list[str] = []
    original = lake.write_bytes

    def record(bucket, key, data):
        written.append(key)
        return original(bucket, key, data)

    lake.write_bytes = record
    uri = publish_dataset(lake, "p", "0123456789abcdef", {"X_train": b"x", "preprocessor": b"p"}, {"k": 1})
    assert written == [
        "0123456789abcdef/X_train.parquet",
        "0123456789abcdef/preprocessor.skops",
        f"0123456789abcdef/{MANIFEST}",
    ]
    assert uri == lake.uri("p", "0123456789abcdef/")
    assert read_manifest(lake, "p", "0123456789abcdef") == {"k": 1}


def test_version_interrupted_before_its_manifest_is_invisible(settings):
    lake = lake_from_settings(settings)
    bucket = settings.processed_bucket
    publish_dataset(
        lake, bucket, "aaaaaaaaaaaaaaaa", {}, _manifest("aaaaaaaaaaaaaaaa", "2024-01-01T00:00:00")
    )

    class ManifestWriteFails(LocalLake):
        def write_bytes(self, bucket, key, data):
            if key.endswith(MANIFEST):
                raise OSError("crash before the manifest")
            return super().write_bytes(bucket, key, data)

    crashing = ManifestWriteFails(settings.lake_root)
    files = {name: b"partial" for name in FILES}
    with pytest.raises(OSError, match="crash"):
        publish_dataset(
            crashing, bucket, "bbbbbbbbbbbbbbbb", files, _manifest("bbbbbbbbbbbbbbbb", "2025-01-01")
        )

    assert lake.exists(bucket, "bbbbbbbbbbbbbbbb/X_train.parquet")  # the files are there...
    assert read_manifest(lake, bucket, "bbbbbbbbbbbbbbbb") is None  # ...but the version is not
    assert latest_version(settings) == "aaaaaaaaaaaaaaaa"
    with pytest.raises(InputError, match="'bbbbbbbbbbbbbbbb' is not published"):
        load_dataset(settings, "bbbbbbbbbbbbbbbb")


def test_list_manifests_orders_by_creation_and_skips_foreign_keys(tmp_path):
    lake = LocalLake(tmp_path)
    for version, created in (("1111111111111111", "2025-03-01"), ("2222222222222222", "2025-01-01")):
        lake.write_bytes("p", f"{version}/{MANIFEST}", json.dumps(_manifest(version, created)).encode())
    lake.write_bytes("p", f"notaversion/{MANIFEST}", b"{}")
    lake.write_bytes("p", f"1111111111111111/nested/{MANIFEST}", b"{}")
    versions = [m["dataset_version"] for m in list_manifests(lake, "p")]
    assert versions == ["2222222222222222", "1111111111111111"]


def test_publish_rejects_unknown_file_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset files"):
        publish_dataset(LocalLake(tmp_path), "p", "0123456789abcdef", {"notes": b""}, {})


def test_parquet_round_trip_keeps_index_and_names():
    frame = pd.DataFrame({"Sleep Hours": [6.5, None]}, index=pd.Index([2, 5], name="line"))
    pd.testing.assert_frame_equal(parquet_to_frame(frame_to_parquet(frame)), frame)


def test_nothing_published_yet(settings):
    assert latest_version(settings) is None
    with pytest.raises(InputError, match="no dataset published"):
        load_dataset(settings)


@pytest.mark.parametrize("version", ["../../etc", "ABC", "0123456789abcdef0"])
def test_load_dataset_rejects_malformed_versions_cleanly(settings, version):
    with pytest.raises(InputError, match="is not published"):
        load_dataset(settings, version)


def test_a_quarantine_alone_is_published_outside_the_dataset_versions(settings, monkeypatch):
    lake = lake_from_settings(settings)
    bucket, folder = settings.processed_bucket, f"{QUARANTINE_PREFIX}/cccccccccccccccc"
    quarantine = frame_to_parquet(pd.DataFrame({"line": [2], "reason": ["r"], "record": ["x"]}))
    written: list[str] = []
    original = LocalLake.write_bytes

    def record(self, bucket, key, data):
        written.append(key)
        return original(self, bucket, key, data)

    monkeypatch.setattr(LocalLake, "write_bytes", record)
    uri = publish_quarantine(lake, bucket, "cccccccccccccccc", quarantine, {"dataset_published": False})
    again = publish_quarantine(lake, bucket, "cccccccccccccccc", quarantine, {"dataset_published": False})

    assert written == [f"{folder}/{FILES['quarantine']}", f"{folder}/{MANIFEST}"]  # once, manifest last
    assert uri == again == lake.uri(bucket, f"{folder}/{FILES['quarantine']}")
    assert parquet_to_frame(lake.read_bytes(bucket, f"{folder}/{FILES['quarantine']}"))[
        "record"
    ].tolist() == ["x"]
    assert latest_version(settings) is None and list_manifests(lake, bucket) == []
