"""Tests of burnout_api.grpc_api."""
