"""Static checks of docker-compose.yaml and .env: what `docker compose up --build` would do, verified without
a Docker engine. The checks are functions returning the problems they find, so that each one is also tested on
a broken stack (a check that cannot fail proves nothing)."""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from burnout_base.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_FILE = REPO / ".env"
DOCKER_COMPOSE = shutil.which("docker-compose")
needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None, reason="docker-compose not installed (make system-deps)"
)

# The table of services and URLs in docs/operations.md is written against these.
EXPECTED_HOST_PORTS = {
    "airflow-apiserver": {8080},
    "mlflow": {5001},
    "minio": {9000, 9001},
    "balancer": {8800, 50051},
}
EXPECTED_SERVICES = {
    "postgres",
    "valkey",
    "minio",
    "minio-init",
    "mlflow",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "api",
    "balancer",
    "stream-worker",
}
needs_haproxy = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
INTERNAL_ONLY = {"postgres", "valkey"}
ONE_SHOT_CONDITION = "service_completed_successfully"
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "TOKEN")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped)."""
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution (${X}, ${X:-default}, ${X:?error}; `$$` escapes a dollar)."""

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = env.get(name, "") != "" if op and op.startswith(":") else name in env
        if present:
            return env[name]
        if op and op.endswith("?"):
            raise ValueError(f"required variable {name} is missing: {arg}")
        return arg if op else ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def load_services() -> dict:
    """The services of docker-compose.yaml with YAML anchors and merge keys resolved."""
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def host_ports(service: dict, env: dict[str, str]) -> set[int]:
    """Host ports a service publishes (short `host:container` syntax, as this file uses)."""
    ports = set()
    for entry in service.get("ports", []):
        parts = interpolate(str(entry), env).split("/")[0].split(":")
        if len(parts) < 2:
            raise ValueError(f"port {entry!r} leaves the host port to Docker; publish an explicit one")
        ports.add(int(parts[-2]))
    return ports


def is_one_shot(name: str, services: dict) -> bool:
    """A job that runs to completion: no healthcheck, no restart, and its dependants wait for its success."""
    service = services[name]
    waits = [
        deps[name].get("condition")
        for other in services.values()
        if isinstance(deps := other.get("depends_on", {}), dict) and name in deps
    ]
    return (
        "healthcheck" not in service
        and str(service.get("restart", "no")) in {"no", "on-failure"}
        and bool(waits)
        and all(condition == ONE_SHOT_CONDITION for condition in waits)
    )


def find_unchecked_services(services: dict) -> list[str]:
    """Services with neither a healthcheck nor the shape of a one-shot job."""
    return [
        name
        for name, service in services.items()
        if not (service.get("healthcheck", {}).get("test") or is_one_shot(name, services))
    ]


def find_unordered_dependencies(services: dict) -> list[str]:
    """depends_on entries that do not wait for health (or for a one-shot's success)."""
    problems = []
    for name, service in services.items():
        deps = service.get("depends_on", {})
        if not isinstance(deps, dict):
            problems.append(f"{name}: depends_on without conditions")
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition")
            if condition == "service_healthy" and "healthcheck" in services.get(dep, {}):
                continue
            if condition == ONE_SHOT_CONDITION and is_one_shot(dep, services):
                continue
            problems.append(f"{name} -> {dep}: condition {condition!r}")
    return problems


def find_unpinned_images(services: dict) -> list[str]:
    """Images without an explicit version tag (no tag, `latest`, or a bare major like `postgres:17`)."""
    problems = []
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            problems.append(f"{name}: no image name (built images need a pinned tag)")
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag in {"", "latest"} or not re.search(r"\d+\.\d+|\d{4}-\d{2}-\d{2}", tag):
            problems.append(f"{name}: {image}")
    return problems


@pytest.fixture(scope="module")
def services() -> dict:
    return load_services()


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return read_env_file(ENV_FILE)


def run_config(env_file: Path) -> subprocess.CompletedProcess:
    # A clean environment, so that a variable exported in the caller's shell cannot mask a missing one.
    return subprocess.run(
        [
            DOCKER_COMPOSE,
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)},
    )


def compose_variables() -> list[re.Match]:
    """Every ${...} reference of docker-compose.yaml (`$${...}` is an escaped dollar, not a reference)."""
    return list(VARIABLE.finditer(COMPOSE_FILE.read_text().replace("$$", "")))


def required_variables() -> list[str]:
    return sorted({m["name"] for m in compose_variables() if m["op"] in {":?", "?"}})


@needs_docker_compose
def test_config_accepts_compose_file_with_env():
    result = run_config(ENV_FILE)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == EXPECTED_SERVICES


@needs_docker_compose
@pytest.mark.parametrize("variable", required_variables())
def test_config_fails_naming_missing_variable(variable, env, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items() if key != variable))
    result = run_config(env_file)
    assert result.returncode != 0
    assert f"set {variable} in .env" in result.stdout + result.stderr


def test_compose_file_lists_the_platform_services(services):
    assert set(services) == EXPECTED_SERVICES


def test_every_secret_is_required_from_env():
    secrets = {m["name"] for m in compose_variables() if any(word in m["name"] for word in SECRET_WORDS)}
    assert {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "MINIO_ROOT_PASSWORD"} <= secrets
    assert not [m[0] for m in compose_variables() if m["name"] in secrets and m["op"] in {":-", "-"}]
    assert secrets <= set(required_variables())


def test_env_defines_every_variable_compose_uses(env):
    used = {m["name"] for m in compose_variables()}
    assert set(required_variables()) <= set(env)
    assert not {name for name in used if name not in env}


def test_env_comments_each_variable():
    lines = ENV_FILE.read_text().splitlines()
    uncommented = [
        line.split("=")[0]
        for i, line in enumerate(lines)
        if "=" in line and not line.startswith("#") and (i == 0 or not lines[i - 1].startswith("#"))
    ]
    assert uncommented == []


def test_env_values_do_not_appear_in_compose_file(env):
    text = COMPOSE_FILE.read_text()
    leaked = [
        key for key, value in env.items() if any(word in key for word in SECRET_WORDS) and value in text
    ]
    assert leaked == []


def test_env_leaves_embedded_settings_alone(env):
    # Settings reads .env too: a BURNOUT_* entry here would point `make demo` at the compose hosts.
    assert not [key for key in env if key.startswith("BURNOUT_")]


def test_every_service_has_healthcheck_or_is_one_shot(services):
    assert find_unchecked_services(services) == []
    assert {name for name in services if is_one_shot(name, services)} == {"minio-init", "airflow-init"}


def test_dependencies_wait_for_health_or_completion(services):
    assert find_unordered_dependencies(services) == []


def test_images_are_pinned(services):
    assert find_unpinned_images(services) == []


def test_published_ports_are_the_expected_set(services, env):
    published = {name: ports for name, service in services.items() if (ports := host_ports(service, env))}
    assert published == EXPECTED_HOST_PORTS
    assert not INTERNAL_ONLY & set(published)


def test_published_ports_listen_on_localhost_unless_env_opens_them(services, env):
    for name, service in services.items():
        for entry in service.get("ports", []):
            assert interpolate(str(entry), {}).startswith("127.0.0.1:"), (name, entry)
            opened = interpolate(str(entry), {**env, "HOST_BIND_ADDRESS": "0.0.0.0"})
            assert opened.startswith("0.0.0.0:"), (name, entry)
    assert env["HOST_BIND_ADDRESS"] == "127.0.0.1"


def test_minio_comes_from_quay_io(services):
    # MinIO removed its images from Docker Hub (pulls of minio/minio fail): compose pulls before it starts.
    assert services["minio"]["image"].startswith("quay.io/minio/minio:RELEASE.")


def test_mlflow_allowed_hosts_are_opened_from_env(services, env):
    allowed = services["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert interpolate(allowed, env).split(",")[:2] == ["mlflow", "mlflow:*"]
    assert "localhost:*" in interpolate(allowed, env).split(",")
    assert interpolate(allowed, {**env, "MLFLOW_ALLOWED_HOSTS": "192.168.1.20:*"}).endswith(",192.168.1.20:*")


def test_worker_can_be_scaled(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


def test_api_runs_as_replicas_behind_the_balancer(services):
    api, balancer = services["api"], services["balancer"]
    assert api["scale"] == 2 and "container_name" not in api and "ports" not in api
    assert balancer["image"].startswith("haproxy:")
    config = (REPO / "dockerfiles/haproxy/haproxy.cfg").read_text()
    # Found through Docker's DNS by the service's name, on the ports the replicas listen on.
    for port in (api["environment"]["BURNOUT_API_PORT"], api["environment"]["BURNOUT_GRPC_PORT"]):
        assert f" api:{port} " in config
    assert "nameserver dns 127.0.0.11:53" in config
    # The balancer leaves a draining replica out before it closes: its check interval is shorter.
    check_interval_s = float(re.search(r" inter (\d+)s ", config).group(1))
    assert float(api["environment"]["BURNOUT_DRAIN_DELAY_S"]) > check_interval_s


@needs_haproxy
def test_balancer_config_is_valid_for_haproxy():
    result = subprocess.run(
        ["haproxy", "-c", "-f", str(REPO / "dockerfiles/haproxy/haproxy.cfg")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_stream_worker_can_be_scaled_and_shares_the_api_image_and_stream(services):
    worker, api = services["stream-worker"], services["api"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["image"] == api["image"] and worker["build"] == api["build"]
    assert worker["command"] == ["burnout", "stream-worker"]
    stream = worker["environment"]["BURNOUT_REDIS_URL"]
    assert stream == api["environment"]["BURNOUT_REDIS_URL"] and "@valkey:6379/" in stream
    broker = services["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
    assert stream.rsplit("/", 1)[1] != broker.rsplit("/", 1)[1]  # its own database, not Celery's
    assert {"valkey", "mlflow"} <= set(worker["depends_on"])


def test_airflow_services_share_the_common_definition(services):
    airflow = {name: s for name, s in services.items() if name.startswith("airflow-")}
    assert {s["image"] for s in airflow.values()} == {"burnout-airflow:0.1.0"}
    for service in airflow.values():
        assert service["build"]["dockerfile"] == "dockerfiles/airflow/Dockerfile"
        assert "./airflow/dags:/opt/airflow/dags:ro" in service["volumes"]
        assert (
            service["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
            == "${AIRFLOW_JWT_SECRET:?set AIRFLOW_JWT_SECRET in .env}"
        )


def known_airflow_options() -> set[tuple[str, str]]:
    """(section, option) pairs of Airflow core and the Celery provider, read from their config templates
    without importing Airflow (whose import would write a config file under ~/airflow)."""
    root = Path(importlib.util.find_spec("airflow").submodule_search_locations[0])
    sections = yaml.safe_load((root / "config_templates" / "config.yml").read_text())
    celery = runpy.run_path(str(root / "providers" / "celery" / "get_provider_info.py"))[
        "get_provider_info"
    ]()
    sections.update(celery["config"])
    return {(section, option) for section, spec in sections.items() for option in spec["options"]}


def test_airflow_options_exist_in_airflow_config(services):
    options = {
        key for s in services.values() for key in s.get("environment", {}) if key.startswith("AIRFLOW__")
    }
    known = known_airflow_options()
    unknown = [key for key in options if tuple(key.lower().split("__")[1:3]) not in known]
    assert len(options) > 10 and unknown == []
    assert ("core", "no_such_option") not in known and ("celery", "worker_concurrency") in known


def test_airflow_loads_the_executor_the_stack_uses(services, tmp_path):
    # Celery 5.7 dropped a helper the Celery provider imports: the stack's scheduler then crash-looped.
    executor = services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    code = "from airflow.executors.executor_loader import ExecutorLoader as E; print(E.init_executors())"
    env = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__EXECUTOR": executor}

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{executor}(" in result.stdout


def test_burnout_variables_are_valid_settings(services, env, monkeypatch):
    for name, service in services.items():
        variables = {
            k: interpolate(str(v), env)
            for k, v in service.get("environment", {}).items()
            if k.startswith("BURNOUT_")
        }
        assert {k.removeprefix("BURNOUT_").lower() for k in variables} <= set(Settings.model_fields), name
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        Settings(_env_file=None)  # raises on a wrong type or an inconsistent combination
        for key in variables:
            monkeypatch.delenv(key)


def test_mlflow_proxies_artifacts_to_minio(services, env):
    mlflow = services["mlflow"]
    command = [interpolate(part, env) for part in mlflow["command"]]
    assert command[command.index("--artifacts-destination") + 1] == f"s3://{env['MLFLOW_ARTIFACTS_BUCKET']}/"
    assert "--serve-artifacts" in command
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql")
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_nothing_is_pip_installed_at_container_start(services):
    commands = " ".join(str(s.get("command", "")) + str(s.get("entrypoint", "")) for s in services.values())
    assert "pip install" not in commands
    assert not [n for n, s in services.items() if "_PIP_ADDITIONAL_REQUIREMENTS" in s.get("environment", {})]


# The checks themselves, on a stack that breaks each rule.
BROKEN = {
    "db": {"image": "postgres:latest", "ports": ["5432:5432"]},
    "cache": {"image": "valkey/valkey", "healthcheck": {"test": ["CMD", "true"]}},
    "init": {"image": "busybox:1.36.1", "restart": "always"},
    "app": {
        "image": "app:17",
        "depends_on": {
            "db": {"condition": "service_healthy"},
            "init": {"condition": "service_completed_successfully"},
            "cache": {"condition": "service_started"},
        },
    },
}


def test_find_unchecked_services_flags_services_without_healthcheck():
    assert find_unchecked_services(BROKEN) == ["db", "init", "app"]


def test_find_unordered_dependencies_flags_each_bad_wait():
    assert find_unordered_dependencies(BROKEN) == [
        "app -> db: condition 'service_healthy'",
        "app -> init: condition 'service_completed_successfully'",
        "app -> cache: condition 'service_started'",
    ]


def test_find_unpinned_images_flags_latest_bare_and_major_only_tags():
    assert find_unpinned_images(BROKEN) == ["db: postgres:latest", "cache: valkey/valkey", "app: app:17"]


def test_host_ports_reads_env_defaults_and_overrides():
    service = {"ports": ["${WEB:-8080}:8080", "127.0.0.1:9000:9000/tcp"]}
    assert host_ports(service, {}) == {8080, 9000}
    assert host_ports(service, {"WEB": "18080"}) == {18080, 9000}
    with pytest.raises(ValueError, match="explicit"):
        host_ports({"ports": ["8080"]}, {})


def test_interpolate_fails_on_missing_required_variable():
    with pytest.raises(ValueError, match="set X in .env"):
        interpolate("${X:?set X in .env}", {})
    assert interpolate("$${HOSTNAME} ${A:-1}", {"A": "2"}) == "${HOSTNAME} 2"
