"""The Redis streams of asynchronous scoring, as both sides see them: POST /predict_stream adds records to the
requests stream (one entry per record, field `record`: its JSON), `burnout stream-worker` answers each on the
results stream (field `id`: the request entry's id) or on the dead-letter stream (with its `reason`).

Valkey speaks the same protocol: the compose stack uses its Valkey, on a database of its own.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import redis

from burnout_api.core.errors import StreamUnavailable
from burnout_api.validation import validate_records
from burnout_base.settings import Settings

RECORD = "record"  # request entries: the record's JSON, in the dataset's column names
REQUEST_ID = "id"  # result and dead-letter entries: the id of the request entry they answer
CONNECT_TIMEOUT_S = 2.0


def describe_url(url: str) -> str:
    """The URL without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(settings: Settings, read_timeout_s: float = 10.0) -> redis.Redis:
    """A client of `settings.redis_url` (no connection is opened until the first command)."""
    if not settings.redis_url:
        raise StreamUnavailable("streams are off: BURNOUT_REDIS_URL is not set")
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=read_timeout_s,
    )


def ping(settings: Settings) -> str | None:
    """None when the settings' Redis answers, otherwise why not (one sentence)."""
    try:
        client = connect(settings, read_timeout_s=CONNECT_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except StreamUnavailable as exc:
        return str(exc)
    except redis.RedisError as exc:
        return f"no Redis answers at {describe_url(settings.redis_url)}: {exc}"
    return None


def enqueue_records(client: redis.Redis, stream: str, records: list[dict]) -> list[str]:
    """Add one entry per record in one transaction (all of them or none); their ids, in order."""
    pipe = client.pipeline(transaction=True)
    for record in records:
        pipe.xadd(stream, {RECORD: json.dumps(record, allow_nan=False)})
    try:
        return list(pipe.execute())
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StreamUnavailable(f"the stream's Redis does not answer: {exc}") from exc
    except redis.RedisError as exc:
        raise StreamUnavailable(f"the stream's Redis refused the records: {exc}") from exc


def queue_records(client: redis.Redis, settings: Settings, records: object) -> list[str]:
    """Check decoded records like the core does (InvalidInput names record and field), then enqueue them:
    only valid records enter the stream."""
    validate_records(records, settings.max_batch)
    return enqueue_records(client, settings.stream_requests, records)
