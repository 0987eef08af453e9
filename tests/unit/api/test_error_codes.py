"""One error vocabulary: every error of the service carries a code, and every transport maps every code."""

from __future__ import annotations

import pytest

from burnout_api.core import SERVICE_ERRORS, ErrorCode, error_code
from burnout_api.graphql_api.errors import CODES as GRAPHQL_CODES
from burnout_api.grpc_api.errors import STATUS as GRPC_STATUS
from burnout_api.rest.errors import STATUS as REST_STATUS
from burnout_api.v2.errors import STATUS as V2_STATUS

TABLES = {"rest": REST_STATUS, "grpc": GRPC_STATUS, "graphql": GRAPHQL_CODES, "v2": V2_STATUS}


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
def test_every_transport_maps_every_code(table):
    assert set(table) == set(ErrorCode)


def test_every_error_of_the_service_carries_a_code_of_its_own_class():
    codes = [cls.code for cls in SERVICE_ERRORS]
    assert all(isinstance(code, ErrorCode) for code in codes)
    assert len(set(codes)) == len(codes) == len(ErrorCode)


def test_anything_else_has_no_code():
    assert error_code(RuntimeError("boom")) is None and error_code(None) is None
