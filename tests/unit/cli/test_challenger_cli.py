"""`burnout challenger set VERSION` and `burnout challenger clear`: one JSON document each, and a refusal
(the champion's version) as one line with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import burnout_cli.app
import modeling.challenger
from burnout_cli.app import app
from etl.errors import InputError


@pytest.fixture
def calls(monkeypatch, settings):
    calls = []
    monkeypatch.setattr(burnout_cli.app, "get_settings", lambda: settings)

    def set_challenger(settings, version):
        calls.append(("set", version))
        if version == 3:
            raise InputError("version 3 is the champion: a challenger must be another version")
        return {"alias": "challenger", "version": version, "previous_version": None, "champion_version": 3}

    def clear_challenger(settings):
        calls.append(("clear",))
        return {"alias": "challenger", "version": None, "previous_version": 7, "champion_version": 3}

    monkeypatch.setattr(modeling.challenger, "set_challenger", set_challenger)
    monkeypatch.setattr(modeling.challenger, "clear_challenger", clear_challenger)
    return calls


def test_challenger_set_prints_the_alias_state(calls):
    result = CliRunner().invoke(app, ["challenger", "set", "7"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 7 and calls == [("set", 7)]


def test_challenger_clear_prints_the_alias_state(calls):
    result = CliRunner().invoke(app, ["challenger", "clear"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["previous_version"] == 7 and calls == [("clear",)]


def test_challenger_set_refuses_the_champion_in_one_line(calls):
    result = CliRunner().invoke(app, ["challenger", "set", "3"])
    assert result.exit_code == 2 and "version 3 is the champion" in result.output
    assert "Traceback" not in result.output
