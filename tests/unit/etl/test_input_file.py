"""An input anywhere (path, file:// URI, s3:// URI, the raw object) is read a range at a time: its size, any
range, a streaming pass in blocks and a seekable file object; a missing or unreachable one is named."""

from __future__ import annotations

import io

import pytest

from etl.errors import InputError
from etl.input_file import locate_input
from etl.lake import lake_from_settings

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture(params=["path", "file-uri", "s3", "raw-object"])
def located(request, tmp_path):
    """The same bytes located each way the input can be given."""
    if request.param in ("path", "file-uri"):
        settings = request.getfixturevalue("settings")
        path = tmp_path / "input.bin"
        path.write_bytes(PAYLOAD)
        return locate_input(settings, str(path) if request.param == "path" else path.as_uri())
    settings = request.getfixturevalue("s3_settings" if request.param == "s3" else "settings")
    lake_from_settings(settings).write_bytes(settings.raw_bucket, settings.raw_key, PAYLOAD)
    if request.param == "s3":
        return locate_input(settings, f"s3://{settings.raw_bucket}/{settings.raw_key}")
    return locate_input(settings, None)


def test_located_input_reads_ranges_blocks_and_seeks(located):
    assert located.size == len(PAYLOAD)
    assert located.read_range(100, 356) == PAYLOAD[100:356]
    assert located.read_all() == PAYLOAD
    blocks = list(located.iter_blocks(start=5, block_bytes=4096))
    assert [offset for offset, _ in blocks] == [5, 4101, 8197]
    assert b"".join(block for _, block in blocks) == PAYLOAD[5:]
    reader = located.open()
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == PAYLOAD[-10:]
    reader.seek(3)
    assert reader.read(4) == PAYLOAD[3:7] and reader.tell() == 7


def test_missing_inputs_are_named(settings, s3_settings, tmp_path):
    with pytest.raises(InputError, match="input file not found: .*absent.csv"):
        locate_input(settings, tmp_path / "absent.csv")
    with pytest.raises(InputError, match="not a file"):
        locate_input(settings, tmp_path)
    with pytest.raises(InputError, match=f"input not found: s3://{s3_settings.raw_bucket}/absent.csv"):
        locate_input(s3_settings, f"s3://{s3_settings.raw_bucket}/absent.csv")
    with pytest.raises(InputError, match="no raw dataset at .*upload one first"):
        locate_input(settings, None)
