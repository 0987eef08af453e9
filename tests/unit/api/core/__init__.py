"""Tests of burnout_api.core."""
