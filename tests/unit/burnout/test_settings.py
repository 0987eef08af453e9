"""The settings object refuses configurations that would be unsafe, with a message that says what to set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from burnout_base.settings import Settings


@pytest.mark.parametrize("token", [None, "", "  "])
def test_required_reload_token_missing_is_refused(token):
    with pytest.raises(ValidationError, match="BURNOUT_RELOAD_TOKEN is empty"):
        Settings(_env_file=None, require_reload_token=True, reload_token=token)


def test_required_reload_token_present_is_accepted():
    settings = Settings(_env_file=None, require_reload_token=True, reload_token="s3cret")

    assert settings.reload_token.get_secret_value() == "s3cret"


def test_serve_without_required_token_exits_with_one_line(tmp_path):
    env = {"PATH": "", "BURNOUT_HOME": str(tmp_path), "BURNOUT_REQUIRE_RELOAD_TOKEN": "true"}

    result = subprocess.run(
        [str(Path(sys.executable).parent / "burnout"), "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 2
    assert "BURNOUT_RELOAD_TOKEN is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_to_environment_rebuilds_the_settings_in_another_folder(tmp_path, monkeypatch):
    settings = Settings(_env_file=None, home=tmp_path / "home", reload_token="s3cret", data_dir=Path("data"))
    environment = settings.to_environment()
    data_here = settings.data_dir.resolve()
    monkeypatch.chdir(tmp_path / "..")
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    rebuilt = Settings(_env_file=None)

    assert rebuilt.reload_token.get_secret_value() == "s3cret"
    assert rebuilt.data_dir == data_here and rebuilt.home == settings.home
    assert environment["BURNOUT_S3_ENDPOINT_URL"] is None
