"""Tell the serving API that aliases moved, so it swaps models now instead of at its next alias poll.

The call is a courtesy: when the API is not running (the embedded pipeline without `burnout serve`, or the
API container still starting) it is skipped with one log line, because the API polls aliases on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from burnout_base.settings import Settings

log = logging.getLogger(__name__)


class ReloadRejected(RuntimeError):
    """The API answered the reload with an error status."""


def notify_reload(settings: Settings, timeout_s: float = 10.0) -> dict[str, Any]:
    """POST <api_url>/reload; returns {"status": "reloaded" | "skipped", ...}. Raises ReloadRejected when the
    API answers with an error (the task retries; a 4xx means a wrong BURNOUT_RELOAD_TOKEN)."""
    import httpx

    url = f"{settings.api_url.rstrip('/')}/reload"
    headers = {}
    if settings.reload_token is not None:
        headers["Authorization"] = f"Bearer {settings.reload_token.get_secret_value()}"
    try:
        response = httpx.post(url, headers=headers, timeout=timeout_s)
    except httpx.TransportError as exc:
        log.info(
            "serving API not reachable at %s (%s); skipping reload, it polls aliases on its own",
            url,
            type(exc).__name__,
        )
        return {"status": "skipped", "url": url, "reason": f"unreachable: {type(exc).__name__}"}
    if response.status_code >= 400:
        raise ReloadRejected(f"POST {url} answered {response.status_code}: {response.text[:300]}")
    log.info("serving API at %s reloaded", url)
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    return {"status": "reloaded", "url": url, "http_status": response.status_code, "api": body}
