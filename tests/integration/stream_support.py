"""Helpers of the stream tests (test_predict_stream.py, test_stream_worker.py): the Redis running on these
machines at 127.0.0.1:6379, on a database of its own (13), with stream names unique to each test and deleted
after it; tests skip cleanly when no Redis answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from burnout_base.settings import Settings

TEST_REDIS_URL = os.environ.get("BURNOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def redis_client() -> redis.Redis:
    """The test database's client, or a skip when no Redis answers."""
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {TEST_REDIS_URL}: {exc}")
    return client


def stream_settings(settings: Settings) -> Settings:
    """`settings` on the test database with stream names of their own."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={
            "redis_url": TEST_REDIS_URL,
            "stream_requests": f"{prefix}:requests",
            "stream_results": f"{prefix}:results",
            "stream_dead": f"{prefix}:dead",
            "stream_group": f"{prefix}-workers",
        }
    )


def cleaned(client: redis.Redis, settings: Settings) -> Iterator[Settings]:
    """Yield `settings`, then delete the streams it names."""
    try:
        yield settings
    finally:
        client.delete(settings.stream_requests, settings.stream_results, settings.stream_dead)
        client.close()
