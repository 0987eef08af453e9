"""Child processes rebuild exactly our settings from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.servers import child_env, settings_env

CHILD = """
import json
from burnout_base.settings import Settings
s = Settings(_env_file=None)
values = s.model_dump(mode="json", exclude={"reload_token"})
print(json.dumps({**values, "token": s.reload_token.get_secret_value()}))
"""


def test_settings_env_round_trips_in_a_child_process(make_settings, tmp_path):
    settings = make_settings(reload_token="s3cret", tuning_timeout_s=12.5)
    env = {**os.environ, **settings_env(settings, api_port=9123)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    child = json.loads(out)
    assert child.pop("api_port") == 9123
    assert child.pop("token") == "s3cret"  # secrets travel unmasked
    # The child runs elsewhere: the relative data folder travels resolved against the parent's folder.
    assert child.pop("data_dir") == str(settings.data_dir.resolve())
    assert child == settings.model_dump(mode="json", exclude={"api_port", "reload_token", "data_dir"})


def test_child_env_points_mlflow_at_our_store_and_venv_first(settings):
    env = child_env(settings)
    assert env["MLFLOW_TRACKING_URI"] == env["MLFLOW_REGISTRY_URI"] == settings.mlflow_tracking_uri
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
