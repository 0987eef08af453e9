"""An input file wherever it lives (a local path, a file:// or s3:// URI, or the raw object in the lake), read
a byte range at a time: its size, any range of it, and a seekable read-only file object over ranged reads
(what pyarrow's Parquet reader needs to read a footer and one row group without the rest of the file).

Every failure to find or read the input is an InputError naming its path or URI."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from etl.errors import InputError
from etl.lake import (
    Lake,
    check_range,
    lake_from_settings,
    parse_s3_uri,
    read_file_range,
    s3_lake_from_settings,
)

if TYPE_CHECKING:
    from burnout_base.settings import Settings

STREAM_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class InputFile:
    """One input: a local file (`path`) or a lake object (`lake`, `bucket`, `key`), named by `uri`."""

    uri: str
    size: int
    path: Path | None = None
    lake: Lake | None = None
    bucket: str = ""
    key: str = ""

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the input (fewer when it ends first)."""
        check_range(start, end)
        end = min(end, self.size)
        if start >= end:
            return b""
        return _reading(self.uri, lambda: self._read(start, end), f"input not found: {self.uri}")

    def read_all(self) -> bytes:
        return self.read_range(0, self.size)

    def iter_blocks(
        self, start: int = 0, block_bytes: int = STREAM_BLOCK_BYTES
    ) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) from `start` to the end, `block_bytes` at a time: one streaming pass."""
        while start < self.size:
            block = self.read_range(start, start + block_bytes)
            if not block:  # the object shrank under us
                raise InputError(f"{self.uri} ended at byte {start}, before its size {self.size}")
            yield start, block
            start += len(block)

    def open(self) -> RangedReader:
        """A seekable binary file object whose reads are ranged reads of the input."""
        return RangedReader(self)

    def _read(self, start: int, end: int) -> bytes:
        if self.path is not None:
            return read_file_range(self.path, start, end)
        assert self.lake is not None
        return self.lake.read_range(self.bucket, self.key, start, end)


class RangedReader(io.RawIOBase):
    """Read-only, seekable, over InputFile.read_range: each read is one ranged read of the input."""

    def __init__(self, file: InputFile) -> None:
        self.file, self.position = file, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.file.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.position = base + offset
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.file.size if size is None or size < 0 else self.position + size
        data = self.file.read_range(self.position, max(end, self.position))
        self.position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def locate_input(settings: Settings, input: str | Path | None) -> InputFile:
    """The input at `input`: a local path, a file:// URI, an s3://bucket/key URI (the settings' S3 endpoint
    and keys), or None for the raw object (raw_bucket/raw_key) in the configured lake. InputError when it is
    missing or cannot be reached."""
    if input is None:
        lake = lake_from_settings(settings)
        bucket, key = settings.raw_bucket, settings.raw_key
        uri = lake.uri(bucket, key)
        missing = f"no raw dataset at {uri}: upload one first or pass --input"
        return _lake_file(lake, bucket, key, uri, missing)
    text = str(input)
    if text.startswith("s3://"):
        bucket, key = parse_s3_uri(text)
        return _lake_file(s3_lake_from_settings(settings), bucket, key, text, f"input not found: {text}")
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if not path.is_file():
        raise InputError(f"input is not a file: {path}")
    path = path.resolve()
    return InputFile(uri=path.as_uri(), size=path.stat().st_size, path=path)


def _lake_file(lake: Lake, bucket: str, key: str, uri: str, missing: str) -> InputFile:
    size = _reading(uri, lambda: lake.size(bucket, key), missing)
    return InputFile(uri=uri, size=size, lake=lake, bucket=bucket, key=key)


def _reading(uri: str, read, missing: str):
    """Run `read`, reporting a missing input (`missing`), an unreachable endpoint, refused credentials or an
    unreadable file as the user's error, named by `uri`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read()
    except FileNotFoundError:
        raise InputError(missing) from None
    except (BotoCoreError, ClientError, OSError) as exc:
        raise InputError(f"cannot read {uri}: {exc}") from None
