"""Values as plain JSON types: what library steps return to their callers (Airflow passes them between tasks
through XCom, the command line prints them)."""

from __future__ import annotations

import json
from typing import Any


def to_plain(value: Any) -> Any:
    """`value` as plain JSON types (numpy scalars become floats/ints), fit for Airflow's XCom."""
    return json.loads(json.dumps(value, default=_plain_default))


def _plain_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
