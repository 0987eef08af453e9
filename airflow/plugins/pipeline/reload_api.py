"""Tell the serving API that aliases moved, so it swaps models now instead of at its next alias poll.

The API may run as several replicas behind one name (compose: `api`, which Docker's DNS resolves to every
replica's address), and a balancer would hand one POST to one replica only. So the call goes to every
address the name resolves to, with the name kept in the Host header (and as the TLS server name).

The call is a courtesy: an address where nothing answers (the embedded pipeline without `burnout serve`, a
replica still starting or just stopped) is skipped with one log line, because every replica polls aliases
on its own (BURNOUT_ALIAS_POLL_S) and catches up within one poll. A replica that answers with an error
status is not skipped: the call raises, so the task retries.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from burnout_base.settings import Settings

log = logging.getLogger(__name__)
MAX_PARALLEL_CALLS = 8


class ReloadRejected(RuntimeError):
    """A replica answered the reload with an error status."""


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every distinct IP address of `host` (a name or a literal address), in the resolver's order; none when
    it does not resolve."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        log.info("serving API host %r does not resolve (%s)", host, exc)
        return []
    return list(dict.fromkeys(info[4][0] for info in found))


def notify_reload(settings: Settings, timeout_s: float = 10.0) -> dict[str, Any]:
    """POST <api_url>/reload to every address of the API's host; returns {"status": "reloaded" | "skipped",
    "url", "replicas": one entry per address, "api": the first reloaded replica's answer}. "reloaded" when
    at least one replica reloaded. Raises ReloadRejected when any replica answers with an error (the task
    retries; a 4xx means a wrong BURNOUT_RELOAD_TOKEN)."""
    import httpx

    url = httpx.URL(f"{settings.api_url.rstrip('/')}/reload")
    headers = {"Host": url.netloc.decode("ascii")}
    if settings.reload_token is not None:
        headers["Authorization"] = f"Bearer {settings.reload_token.get_secret_value()}"
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve_addresses(url.host, port)

    def post(address: str) -> dict[str, Any]:
        return _post_to(url, address, headers, timeout_s)

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_CALLS, len(addresses)))) as pool:
        replicas = list(pool.map(post, addresses))
    rejected = [r for r in replicas if r["status"] == "rejected"]
    if rejected:
        answers = "; ".join(f"{r['address']} answered {r['http_status']}: {r['text']}" for r in rejected)
        raise ReloadRejected(f"POST {url}: {answers}")
    reloaded = [r for r in replicas if r["status"] == "reloaded"]
    if not reloaded:
        log.info("serving API not reachable at %s; skipping reload, it polls aliases on its own", url)
        reason = "unreachable: " + (", ".join(r["reason"] for r in replicas) or "the host does not resolve")
        return {"status": "skipped", "url": str(url), "reason": reason, "replicas": replicas}
    log.info("serving API at %s reloaded on %d of %d addresses", url, len(reloaded), len(replicas))
    return {"status": "reloaded", "url": str(url), "replicas": replicas, "api": reloaded[0]["api"]}


def _post_to(url, address: str, headers: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """One replica's POST: its entry of the report."""
    import httpx

    try:
        # Straight to the replica: a proxy from the environment could not reach its own address.
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            response = client.post(
                url.copy_with(host=address),
                headers=headers,
                extensions={"sni_hostname": url.host},  # TLS checks the name, not the address
            )
    except httpx.TransportError as exc:
        log.info(
            "serving API replica %s of %s not reachable (%s); skipping it, it polls aliases on its own",
            address,
            url.host,
            type(exc).__name__,
        )
        return {"address": address, "status": "skipped", "reason": type(exc).__name__}
    if response.status_code >= 400:
        return {
            "address": address,
            "status": "rejected",
            "http_status": response.status_code,
            "text": response.text[:300],
        }
    log.info("serving API replica %s of %s reloaded", address, url.host)
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    return {"address": address, "status": "reloaded", "http_status": response.status_code, "api": body}
