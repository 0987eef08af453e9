"""`burnout demo` as a user runs it, in a fresh BURNOUT_HOME: the pipeline runs in-process with real Airflow
behind a short progress report (no warning, no traceback, the logs in a file), the examples it prints answer
over REST, GraphQL and gRPC, Ctrl-C stops it cleanly, and a second run (`--no-serve`) reuses the dataset
version and the models instead of duplicating them."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from burnout_dev.processes import free_port

pytestmark = pytest.mark.slow
BURNOUT = Path(sys.executable).parent / "burnout"
PIPELINE_TIMEOUT_S = 900
MAX_LINES_BEFORE_SERVING = 60


@pytest.fixture
def demo_env(tmp_path) -> dict[str, str]:
    """A fresh BURNOUT_HOME, a small synthetic dataset, a 1-trial budget and free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BURNOUT_", "AIRFLOW"))}
    env.update(
        BURNOUT_HOME=str(tmp_path / "home"),
        BURNOUT_SYNTHETIC_ROWS="1500",
        BURNOUT_DEMO_TRIALS="1",
        BURNOUT_CV_FOLDS="2",
        BURNOUT_API_HOST="127.0.0.1",
        BURNOUT_API_PORT=str(free_port()),
        BURNOUT_GRPC_PORT=str(free_port()),
    )
    return env


def read_until_serving(process: subprocess.Popen, timeout_s: float) -> list[str]:
    """Stdout lines up to and including the one that starts with "serving"."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"demo exited ({process.wait()}) before serving; stdout: {seen[-20:]}")
        seen.append(line)
        if line.startswith("serving "):
            return seen
    raise AssertionError(f"no 'serving' line after {timeout_s}s; stdout: {seen[-20:]}")


def printed_payload(lines: list[str], command: str) -> str:
    """The -d payload of the printed example whose command starts with `command`."""
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(command))
    words = shlex.split(" ".join(line.strip().rstrip("\\") for line in lines[start : start + 2]))
    return words[words.index("-d") + 1]


def wait_ready(base: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{base}/ready never answered 200")


def test_demo_serves_printed_examples_then_reuses_on_second_run(demo_env, tmp_path):
    import grpc
    from google.protobuf import json_format

    from burnout_api.grpc_gen import burnout_pb2, burnout_pb2_grpc
    from etl.contract import CLASSES

    log = open(tmp_path / "demo.log", "w")  # noqa: SIM115 (closed below, after the process)
    process = subprocess.Popen(
        [str(BURNOUT), "demo"], cwd=tmp_path, env=demo_env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        lines = read_until_serving(process, PIPELINE_TIMEOUT_S)
        assert len(lines) <= MAX_LINES_BEFORE_SERVING, "\n".join(lines)
        assert not [line for line in lines if re.search(r"warning|traceback", line, re.IGNORECASE)]
        log_file = Path(re.search(r"full log in (\S+)", lines[0])[1])
        assert log_file.is_file() and "modeling.tune" in log_file.read_text()
        assert any("1,500 rows kept" in line for line in lines)  # the ETL step's row counts
        champion = re.search(
            r"^Champion: (\w+) v(\d+), test macro-F1 [\d.]+ \(95% CI", "\n".join(lines), re.M
        )
        assert champion, "\n".join(lines)
        models_line = next(line for line in lines if line.strip().startswith("models (test macro-F1):"))
        models = dict(re.findall(r"(\w+) v(\d+)", models_line))
        assert {"lightgbm", "knn", "svm"} <= set(models)
        dataset_version = re.search(r"data: dataset (\w+),", "\n".join(lines))[1]
        assert any("mlflow ui --backend-store-uri sqlite:///" in line for line in lines)
        assert any("?explain=true" in line for line in lines)

        base = f"http://127.0.0.1:{demo_env['BURNOUT_API_PORT']}"
        printed = f"curl -s -X POST http://localhost:{demo_env['BURNOUT_API_PORT']}"
        wait_ready(base)
        rest = httpx.post(
            f"{base}/predict",
            content=printed_payload(lines, f"{printed}/predict"),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert rest.status_code == 200, rest.text
        assert rest.json()["predictions"][0]["class"] in CLASSES

        graphql_body = json.loads(printed_payload(lines, f"{printed}/graphql"))
        graphql = httpx.post(f"{base}/graphql", json=graphql_body, timeout=30)
        assert graphql.status_code == 200 and "errors" not in graphql.json(), graphql.text
        assert graphql.json()["data"]["predict"]["predictions"][0]["class"] in CLASSES

        request = json_format.Parse(printed_payload(lines, "grpcurl"), burnout_pb2.PredictRequest())
        with grpc.insecure_channel(f"127.0.0.1:{demo_env['BURNOUT_GRPC_PORT']}") as channel:
            answer = burnout_pb2_grpc.BurnoutRiskStub(channel).Predict(request, timeout=30)
        assert answer.predictions[0].class_name in CLASSES
        assert answer.model.alias == "champion"
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        returncode = process.wait(timeout=60)
        log.close()
    assert returncode == 0, (tmp_path / "demo.log").read_text()[-3000:]
    stderr = (tmp_path / "demo.log").read_text()
    assert not re.search(r"warning|traceback", stderr, re.IGNORECASE), stderr[-3000:]

    again = subprocess.run(
        [str(BURNOUT), "demo", "--no-serve"],
        cwd=tmp_path,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=PIPELINE_TIMEOUT_S,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout)  # --no-serve prints only the summary on stdout, the progress on stderr
    assert second["pipeline"]["state"] == "success"
    assert second["dataset"]["dataset_version"] == dataset_version
    assert second["dataset"]["reused"] is True and all(m["reused"] for m in second["models"])
    assert {m["family"]: str(m["model_version"]) for m in second["models"]} == models
    assert second["promotion"]["current_champion_version"] == int(champion[2])
    assert "Airflow metadata DB  done: reused" in again.stderr  # the metadata DB is reused too
    assert not re.search(r"warning|traceback", again.stderr, re.IGNORECASE), again.stderr[-3000:]
