"""`burnout <command> --help` states the settings' defaults a user gets when leaving an option out."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from burnout_base.settings import Settings
from burnout_cli.app import app

DEFAULTS = Settings.model_fields


@pytest.mark.parametrize("command", ["train", "pipeline"])
def test_help_states_default_tuning_budget(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"})

    assert result.exit_code == 0
    assert f"BURNOUT_TUNING_TRIALS ({DEFAULTS['tuning_trials'].default})" in result.output
    assert f"BURNOUT_TUNING_TIMEOUT_S ({DEFAULTS['tuning_timeout_s'].default:g} s)" in result.output


def test_drift_help_states_default_window():
    result = CliRunner().invoke(app, ["drift", "--help"], env={"COLUMNS": "300"})

    assert f"BURNOUT_DRIFT_WINDOW_DAYS ({DEFAULTS['drift_window_days'].default})" in result.output
