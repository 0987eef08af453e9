"""The S3/MinIO implementation of the lake (see etl.lake): objects through boto3, with the endpoint, keys and
region from settings. An S3 PUT is atomic by nature: readers see the old object or the new one, never half."""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from burnout_base.settings import Settings

log = logging.getLogger(__name__)

_NOT_FOUND = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


class S3Lake:
    """S3 or MinIO through boto3; the client is created on first use, never at import or construction."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key

    @cached_property
    def client(self):
        # Path-style addressing: MinIO and other self-hosted endpoints do not serve virtual-host buckets.
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
        )

    def read_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"{self.uri(bucket, key)} not found") from None
            raise

    def size(self, bucket: str, key: str) -> int:
        """The object's length in bytes (one HEAD request)."""
        try:
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"{self.uri(bucket, key)} not found") from None
            raise

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object (fewer when it ends first), with one ranged GET."""
        if not 0 <= start <= end:
            raise ValueError(f"invalid byte range [{start}, {end})")
        if start == end:
            return b""  # HTTP has no empty range
        try:
            answer = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        except ClientError as exc:
            code = _error_code(exc)
            if code == "InvalidRange":  # the range starts at or past the end
                return b""
            if code in _NOT_FOUND:
                raise FileNotFoundError(f"{self.uri(bucket, key)} not found") from None
            raise
        return answer["Body"].read()

    def write_bytes(self, bucket: str, key: str, data: bytes) -> str:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
            # A fresh MinIO has no buckets yet; creating one on first write keeps setup to zero steps.
            log.info("creating bucket %s", bucket)
            self._create_bucket(bucket)
            self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return self.uri(bucket, key)

    def write_if_changed(self, bucket: str, key: str, data: bytes) -> bool:
        """Write `data` unless the object already holds exactly it; True when written. A single-part
        upload's ETag is the MD5 of its content, so nothing is downloaded to compare."""
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            if self.client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == digest:
                return False
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND:
                raise
        self.write_bytes(bucket, key, data)
        return True

    def ensure_bucket(self, bucket: str) -> bool:
        """Create `bucket` unless it exists; True when it was created."""
        try:
            self.client.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND:
                raise
        log.info("creating bucket %s", bucket)
        self._create_bucket(bucket)
        return True

    def _create_bucket(self, bucket: str) -> None:
        kwargs = {}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(Bucket=bucket, **kwargs)
        except ClientError as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
        return sorted(keys)

    def uri(self, bucket: str, key: str = "") -> str:
        return f"s3://{bucket}/{key}"

    def __repr__(self) -> str:
        return f"S3Lake(endpoint_url={self.endpoint_url!r})"


def _error_code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def s3_lake_from_settings(settings: Settings) -> S3Lake:
    """An S3Lake with the endpoint, keys and region of `settings` (AWS defaults where they are unset)."""
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    access = settings.s3_access_key.get_secret_value() if settings.s3_access_key else None
    return S3Lake(settings.s3_endpoint_url, access, secret, settings.s3_region)
