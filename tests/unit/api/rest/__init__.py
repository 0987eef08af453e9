"""Tests of burnout_api.rest."""
