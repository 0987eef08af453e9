"""Handing settings to in-process DAG tasks through the environment."""

from __future__ import annotations

import os

from burnout_base.settings import Settings, get_settings
from burnout_dev.task_environment import settings_in_environment


def test_settings_in_environment_reach_get_settings(make_settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env
    settings = make_settings(tuning_trials=3, reload_token="t0ken", api_url="http://api:1")
    monkeypatch.setenv("BURNOUT_S3_ENDPOINT_URL", "http://stale:9000")  # must not leak into the run
    get_settings.cache_clear()

    with settings_in_environment(settings):
        seen = get_settings()

    assert seen.home == settings.home and seen.lake_root == settings.lake_root
    assert seen.tuning_trials == 3 and seen.api_url == "http://api:1"
    assert seen.reload_token.get_secret_value() == "t0ken"
    assert seen.s3_endpoint_url is None
    # Relative paths travel resolved, so that they mean the same folder wherever the reader runs.
    assert seen.data_dir == settings.data_dir.resolve()
    assert seen.model_dump(exclude={"data_dir"}) == settings.model_dump(exclude={"data_dir"})


def test_settings_in_environment_restores_environment(make_settings, monkeypatch):
    monkeypatch.setenv("BURNOUT_TUNING_TRIALS", "9")
    monkeypatch.delenv("BURNOUT_HOME", raising=False)

    with settings_in_environment(make_settings(tuning_trials=2)):
        assert os.environ["BURNOUT_TUNING_TRIALS"] == "2"

    assert os.environ["BURNOUT_TUNING_TRIALS"] == "9" and "BURNOUT_HOME" not in os.environ
    get_settings.cache_clear()


def test_settings_roundtrip_keeps_types(make_settings):
    settings = make_settings(tuning_timeout_s=12.5)

    with settings_in_environment(settings):
        rebuilt = Settings(_env_file=None)

    assert rebuilt.tuning_timeout_s == 12.5
