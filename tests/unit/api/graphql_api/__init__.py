"""Tests of burnout_api.graphql_api."""
