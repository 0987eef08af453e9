"""The README works as written: every `make` target and `burnout` command (with its options) it shows exists,
every gRPC name it gives is the served one, and the curl calls of "Calling the API" answer, run as they are
printed against a real `burnout serve` (only the host and port are replaced)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from serving_support import register_synthetic_model, wait_for

from burnout.cli import app
from burnout.processes import free_port, stop_process_tree

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
BURNOUT = Path(sys.executable).parent / "burnout"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)


def commands(text: str, program: str) -> list[str]:
    """The commands of `text`'s code blocks that run `program` (continuation lines joined, comments cut)."""
    found = []
    for block in code_blocks(text):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split("  #")[0].split(" # ")[0].strip()
            if command.startswith(f"{program} "):
                found.append(command)
    return found


def section(title: str) -> str:
    """The README from heading `## title` to the next second-level heading."""
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 3)
    return README[start : end if end > 0 else None]


def test_every_make_target_shown_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    shown = {command.split()[1] for command in commands(README, "make")}
    shown |= set(re.findall(r"`make ([a-z][\w-]*)", README))
    assert shown and shown <= targets, shown - targets


def test_every_burnout_command_and_option_shown_exists():
    cli = typer.main.get_command(app)
    shown = commands(README, "burnout") + [
        f"burnout {c}" for c in re.findall(r"`burnout ([a-z][^`]*)`", README)
    ]
    assert len(shown) >= 10
    for command in shown:
        words = command.split()
        name = words[1]
        assert name in cli.commands, f"README shows `{command}`: no command {name!r}"
        options = {opt for param in cli.commands[name].params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"README shows `{command}`: {name} has no {word}"


def test_grpc_names_in_the_readme_are_the_served_ones():
    from burnout_api.grpc_gen import burnout_pb2

    package = burnout_pb2.DESCRIPTOR.package
    served = {service.full_name for service in burnout_pb2.DESCRIPTOR.services_by_name.values()}
    named = set(re.findall(rf"\b{re.escape(package)}\.\w+", README))
    assert named and named <= served, named - served


@pytest.fixture
def service(make_settings):
    """`burnout serve` as users start it, on a fresh embedded home holding one registered model."""
    settings = make_settings()
    register_synthetic_model(settings, "lightgbm", ("lightgbm", "champion"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BURNOUT_", "AIRFLOW"))}
    env.update(
        BURNOUT_HOME=str(settings.home),
        BURNOUT_RELOAD_TOKEN="readme-test",
        BURNOUT_API_PORT=str(port),
        BURNOUT_GRPC_PORT=str(free_port()),
        BURNOUT_PREDICTION_LOG_ENABLED="false",
    )
    process = subprocess.Popen(
        [str(BURNOUT), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # exited: stop waiting, the assertion below says so

    try:
        wait_for(ready, timeout=90)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        stop_process_tree(process.pid)


def test_the_curl_calls_of_calling_the_api_answer_as_printed(service):
    # A call's JSON body spans lines inside its quotes: each block is run whole, as a user pastes it.
    calls = [block.strip() for block in code_blocks(section("Calling the API")) if block.startswith("curl ")]
    assert len(calls) >= 3  # REST, GraphQL and the Open Inference Protocol
    for call in calls:
        answer = subprocess.run(
            ["bash", "-c", call.replace("localhost:8800", service)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, (call, answer.stderr)
        body = json.loads(answer.stdout)
        if "/v2/" in call:  # the Open Inference Protocol: the class is the first output's first value
            assert body["outputs"][0]["data"][0] in ("Low", "Medium", "High"), body
            continue
        predictions = body["predictions"] if "/predict" in call else body["data"]["predict"]["predictions"]
        assert predictions[0]["class"] in ("Low", "Medium", "High"), body
    explained = subprocess.run(
        ["bash", "-c", calls[0].replace("localhost:8800/predict", f"'{service}/predict?explain=true'")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(explained.stdout)["predictions"][0]["explanation"]["top_factors"]
