"""Lake I/O behind one small interface: a local folder (the embedded default) or S3/MinIO through boto3.

Objects are addressed by (bucket, key). Every write is atomic from a reader's point of view: the local lake
writes a hidden temporary file and renames it into place, and an S3 PUT is atomic by nature. A missing object
raises FileNotFoundError naming its URI. Large objects are read a byte range at a time (`size`, `read_range`;
S3 through the HTTP Range header), so a reader holds only the part it works on.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlparse

from etl.errors import InputError
from etl.s3_lake import S3Lake, s3_lake_from_settings

if TYPE_CHECKING:
    from burnout_base.settings import Settings

__all__ = ["Lake", "LocalLake", "S3Lake", "lake_from_settings", "parse_s3_uri", "s3_lake_from_settings"]

_PARTIAL_SUFFIX = ".partial"


@runtime_checkable
class Lake(Protocol):
    """Where raw and processed data live."""

    def read_bytes(self, bucket: str, key: str) -> bytes: ...

    def size(self, bucket: str, key: str) -> int: ...

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes: ...

    def write_bytes(self, bucket: str, key: str, data: bytes) -> str: ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]: ...

    def uri(self, bucket: str, key: str = "") -> str: ...


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key); InputError when it is not such a URI."""
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key or key.endswith("/"):
        raise InputError(f"not an s3://bucket/key URI of an object: {uri!r}")
    return parsed.netloc, key


def check_range(start: int, end: int) -> None:
    """ValueError unless 0 <= start <= end: a range is half-open, [start, end)."""
    if not 0 <= start <= end:
        raise ValueError(f"invalid byte range [{start}, {end})")


def read_file_range(path: Path, start: int, end: int) -> bytes:
    """Bytes [start, end) of a local file (fewer when it ends first)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(end - start)


def _check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"invalid lake key {key!r}: must be a relative path without '..'")
    return path


class LocalLake:
    """A folder per bucket under `root`; what S3 is to the compose stack, this is to the embedded mode."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, bucket: str, key: str) -> Path:
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise ValueError(f"invalid bucket name {bucket!r}")
        return self.root / bucket / _check_key(key)

    def read_bytes(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(bucket, key)} not found")
        return path.read_bytes()

    def size(self, bucket: str, key: str) -> int:
        """The object's length in bytes."""
        path = self._path(bucket, key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(bucket, key)} not found")
        return path.stat().st_size

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object (fewer when it ends first)."""
        check_range(start, end)
        path = self._path(bucket, key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(bucket, key)} not found")
        return read_file_range(path, start, end)

    def write_bytes(self, bucket: str, key: str, data: bytes) -> str:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readers only ever see a complete file: write beside it, then rename (atomic on one filesystem).
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}")
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.uri(bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(_PARTIAL_SUFFIX)
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def uri(self, bucket: str, key: str = "") -> str:
        uri = (self.root / bucket / key).as_uri()
        return uri + "/" if not key or key.endswith("/") else uri

    def __repr__(self) -> str:
        return f"LocalLake({str(self.root)!r})"


def lake_from_settings(settings: Settings) -> Lake:
    """The lake the settings select: BURNOUT_LAKE_BACKEND=local (folder at lake_root) or s3."""
    if settings.lake_backend == "s3":
        return s3_lake_from_settings(settings)
    return LocalLake(settings.lake_root)
