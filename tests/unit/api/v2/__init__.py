"""Tests of burnout_api.v2."""
