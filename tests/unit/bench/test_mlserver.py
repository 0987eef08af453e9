"""MLServer beside our service: its pins load the very same pipeline, its model repository is what its
scikit-learn runtime reads, and its virtualenv is installed once and reused while the pins are unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import pytest

from benchmarks import mlserver
from benchmarks.mlserver import PINS, ensure_mlserver_venv, write_model_repository

REPO = Path(__file__).resolve().parents[3]
MODEL_LIBRARIES = ("scikit-learn", "lightgbm", "numpy", "pandas", "scipy", "joblib")


def read_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if found:
            pins[found.group(1).lower()] = found.group(2)
    return pins


def test_pins_are_exact_and_match_the_project_lock_for_the_model_libraries():
    pins, lock = read_pins(PINS), read_pins(REPO / "requirements.lock")
    assert pins["mlserver"] == pins["mlserver-sklearn"] == "1.7.1"
    assert pins["uvloop"].startswith("0.21.")  # MLServer 1.7.1's inference worker fails on uvloop 0.22
    for library in MODEL_LIBRARIES:
        assert pins[library] == lock[library], library
    assert len(pins) == len([line for line in PINS.read_text().splitlines() if line and line[0] != "#"])


def test_write_model_repository_lays_out_server_and_model_settings(tmp_path):
    model = {"a fitted pipeline": [1, 2, 3]}
    folder = write_model_repository(tmp_path / "repo", model, "burnout-risk", 7, 8100, 8101, 8102, 2)
    server = json.loads((folder / "settings.json").read_text())
    assert server == {
        "host": "127.0.0.1",
        "http_port": 8100,
        "grpc_port": 8101,
        "metrics_port": 8102,
        "parallel_workers": 2,  # as many inference processes as our service has workers
    }
    settings = json.loads((folder / "burnout-risk" / "model-settings.json").read_text())
    assert settings["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert (settings["name"], settings["parameters"]["version"]) == ("burnout-risk", "7")
    assert joblib.load(folder / "burnout-risk" / settings["parameters"]["uri"]) == model


def test_venv_is_installed_once_and_reinstalled_when_the_pins_change(tmp_path, monkeypatch):
    installs = []
    monkeypatch.setattr(mlserver, "_install", lambda venv, pins: installs.append(pins.read_text()))
    pins = tmp_path / "pins.txt"
    pins.write_text("mlserver==1.7.1\n")
    venv = tmp_path / "venv"
    venv.mkdir()
    assert ensure_mlserver_venv(venv, pins) == venv / "bin" / "mlserver"
    ensure_mlserver_venv(venv, pins)
    assert len(installs) == 1
    pins.write_text("mlserver==1.7.2\n")
    ensure_mlserver_venv(venv, pins)
    assert installs == ["mlserver==1.7.1\n", "mlserver==1.7.2\n"]


def test_an_unreachable_index_is_told_apart_from_other_install_failures(tmp_path, monkeypatch):
    import subprocess

    def fake_run(command, **kwargs):
        if command[1:3] == ["-m", "venv"]:
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Network is unreachable")

    monkeypatch.setattr(mlserver.subprocess, "run", fake_run)
    with pytest.raises(mlserver.MLServerInstallError) as failed:
        ensure_mlserver_venv(tmp_path / "venv", PINS)
    assert failed.value.offline
