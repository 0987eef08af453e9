"""Records queued on the requests stream by an adapter (POST /predict_stream, gRPC Enqueue): checked as the
core checks them, then queued. A stream that cannot take them is the core's StreamUnavailable, whose code each
transport maps once (503, UNAVAILABLE)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from burnout_api import record_stream
from burnout_api.core.errors import StreamUnavailable
from burnout_base.settings import Settings


def queue_checked(settings: Settings, client: Callable[[], redis.Redis], records: object) -> list[str]:
    """Check and queue decoded records (InvalidInput names record and field); their entry ids, in order.
    `client()` gives the Redis client (made on first use by the caller)."""
    try:
        return record_stream.queue_records(client(), settings, records)
    except StreamUnavailable as exc:  # said again with the stream's (password-free) address
        where = f" ({record_stream.describe_url(settings.redis_url)})" if settings.redis_url else ""
        raise StreamUnavailable(f"the record stream is unavailable{where}: {exc}") from None
