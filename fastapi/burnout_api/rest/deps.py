"""What routers take from the application: the core it was created with."""

from __future__ import annotations

from burnout_api.core import InferenceCore
from fastapi import Request


def get_core(request: Request) -> InferenceCore:
    return request.app.state.core
