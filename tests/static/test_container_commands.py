"""Every command a container of the stack runs exists: compose `command:`/`entrypoint:` and each Dockerfile's
`CMD`. A module moved or a sub-command renamed would otherwise break the stack silently, found only when a
container exits at start. Commands of images we do not build (MinIO, Valkey, HAProxy, Postgres) are theirs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from burnout_cli.app import app

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
OUR_IMAGES = {"airflow", "api", "minio-init", "mlflow"}
# The official Airflow entrypoint passes `bash`/`python` commands through and runs anything else as an
# `airflow` sub-command (compose writes `command: scheduler`).
AIRFLOW_PASSTHROUGH = {"bash", "python"}


def our_services() -> dict[str, tuple[str, list[str]]]:
    """Service name -> (the Dockerfile folder it builds from, the argv it runs) for every service of ours that
    sets its own command."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    found = {}
    for name, service in services.items():
        build = service.get("build") or (
            services.get(service.get("extends", {}).get("service", "")) or {}
        ).get("build")
        dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
        image = Path(dockerfile).parent.name
        command = service.get("entrypoint") or service.get("command")
        if image in OUR_IMAGES and command:
            found[name] = (image, command if isinstance(command, list) else shlex.split(command))
    return found


def dockerfile_commands() -> dict[str, list[str]]:
    """Dockerfile folder -> its CMD (exec form)."""
    commands = {}
    for dockerfile in sorted((REPO / "dockerfiles").glob("*/Dockerfile")):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("CMD "):
                commands[dockerfile.parent.name] = json.loads(line[len("CMD ") :])
    return commands


def copied_destinations(image: str) -> set[str]:
    """Absolute paths the image's COPY instructions write a single file to."""
    destinations = set()
    for line in (REPO / "dockerfiles" / image / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            target = line.split()[-1]
            if target.startswith("/"):
                destinations.add(target)
    return destinations


def burnout_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def missing_command(image: str, argv: list[str]) -> str | None:
    """Why `argv` would not start in `image`, or None. Airflow sub-commands are checked separately (they need
    Airflow's parser)."""
    program, args = argv[0], argv[1:]
    if program == "burnout":
        if not args or args[0] not in burnout_commands():
            return (
                f"`burnout {' '.join(args[:1])}` is not a command of the CLI ({sorted(burnout_commands())})"
            )
    elif program in {"python", "bash"}:
        if args[0] == "-m":
            module = args[1]
            if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode:
                return f"module {module} does not import"
        elif args[0] not in copied_destinations(image):
            return f"{args[0]} is not copied into the {image} image"
    elif program == "mlflow":
        from mlflow.cli import cli

        if args[0] not in cli.commands:
            return f"`mlflow {args[0]}` is not an MLflow command"
    elif image != "airflow":
        return f"{program} is not a program the {image} image provides"
    return None


def test_every_service_of_ours_runs_a_command_that_exists():
    problems = []
    for name, (image, argv) in our_services().items():
        if image == "airflow" and argv[0] not in AIRFLOW_PASSTHROUGH:
            continue
        problem = missing_command(image, argv)
        if problem:
            problems.append(f"service {name}: {problem}")
    assert problems == []


# The Airflow image keeps the official entrypoint and default command.
@pytest.mark.parametrize("image", ["api", "minio-init", "mlflow"])
def test_every_image_cmd_exists(image):
    argv = dockerfile_commands()[image]
    assert missing_command(image, argv) is None


def test_every_airflow_sub_command_of_the_stack_exists(tmp_path):
    """The Airflow services' commands, parsed by Airflow's own CLI parser with the stack's executor (the
    `celery` group exists only under CeleryExecutor)."""
    argvs = [
        argv
        for image, argv in our_services().values()
        if image == "airflow" and argv[0] not in AIRFLOW_PASSTHROUGH
    ]
    assert argvs, "no Airflow service found in docker-compose.yaml"
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "parser, bad = get_parser(), []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        parser.parse_known_args(argv)\n"
        "    except SystemExit:\n"
        "        bad.append(' '.join(argv))\n"
        "print(json.dumps(bad))\n"
    )
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        # A bogus command goes along, so the test proves the parser tells one apart.
        [sys.executable, "-c", script, json.dumps([*argvs, ["no-such-command"]])],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["no-such-command"]


def test_a_missing_command_is_named():
    assert "not a command of the CLI" in missing_command("api", ["burnout", "serve-everything"])
    assert "does not import" in missing_command("api", ["python", "-m", "burnout_api.no_such_module"])
    assert "is not copied" in missing_command("minio-init", ["python", "/opt/burnout/missing.py"])
    assert "MLflow command" in missing_command("mlflow", ["mlflow", "serve-it"])
    assert missing_command("api", ["burnout", "serve"]) is None
