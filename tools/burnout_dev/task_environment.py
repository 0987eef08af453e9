"""Hand a Settings object to code that reads `get_settings()`, e.g. DAG tasks that `dag.test()` runs in this
process: the settings travel as BURNOUT_* environment variables, exactly as compose hands them to workers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from burnout_base.settings import Settings, get_settings


@contextlib.contextmanager
def settings_in_environment(settings: Settings) -> Iterator[None]:
    """Hand `settings` to in-process tasks through the environment, restoring it afterwards."""
    wanted = settings.to_environment()
    saved = {name: os.environ.get(name) for name in wanted}
    _apply_environment(wanted)
    get_settings.cache_clear()
    try:
        yield
    finally:
        _apply_environment(saved)
        get_settings.cache_clear()


def _apply_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
