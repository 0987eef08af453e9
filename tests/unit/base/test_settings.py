"""The settings object refuses configurations that would be unsafe, with a message that says what to set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from burnout_base.settings import Settings


@pytest.mark.parametrize("token", [None, "", "  "])
def test_an_empty_reload_token_is_no_token_and_serving_is_refused(token):
    settings = Settings(_env_file=None, reload_token=token)

    assert settings.reload_token is None
    with pytest.raises(ValueError, match="BURNOUT_RELOAD_TOKEN is empty"):
        settings.check_serving()


def test_a_reload_token_allows_serving():
    settings = Settings(_env_file=None, reload_token="s3cret")

    settings.check_serving()
    assert settings.reload_token.get_secret_value() == "s3cret"


def test_the_embedded_modes_share_one_session_token_kept_under_home(tmp_path):
    first = Settings(_env_file=None, home=tmp_path).with_session_token()
    again = Settings(_env_file=None, home=tmp_path).with_session_token()
    given = Settings(_env_file=None, home=tmp_path, reload_token="mine").with_session_token()

    assert len(first.reload_token.get_secret_value()) >= 24
    assert again.reload_token.get_secret_value() == first.reload_token.get_secret_value()
    assert (tmp_path / "reload_token").stat().st_mode & 0o077 == 0
    assert given.reload_token.get_secret_value() == "mine"


def test_serve_without_a_token_exits_with_one_line(tmp_path):
    env = {"PATH": "", "BURNOUT_HOME": str(tmp_path)}

    result = subprocess.run(
        [str(Path(sys.executable).parent / "burnout"), "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
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
