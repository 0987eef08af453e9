"""The canary split: a stable hash sends BURNOUT_CANARY_PERCENT of the records to the canary alias. The hash
is of the record's Employee ID when it has one, else of its request id, so that the same employee always
gets the same model, across requests, restarts and replicas (Python's own hash() is salted per process)."""

from __future__ import annotations

import hashlib

import numpy as np

_SCALE = 100.0 / 2**64


def share_of(key: str) -> float:
    """Where `key` falls in [0, 100): the first 8 bytes of its BLAKE2b digest, scaled."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


def canary_mask(
    count: int, percent: float, request_id: str | list[str], employee_ids: list[str | None] | None
) -> np.ndarray:
    """Which of `count` records go to the canary. `request_id`: the request's (one for all its records), or
    one per record (the stream's, where every record is a request of its own)."""
    if employee_ids is None and isinstance(request_id, str):
        return np.full(count, share_of(request_id) < percent)
    ids = [request_id] * count if isinstance(request_id, str) else request_id
    if employee_ids is not None:
        ids = [employee or request for employee, request in zip(employee_ids, ids, strict=True)]
    return np.fromiter((share_of(key) < percent for key in ids), dtype=bool, count=count)
