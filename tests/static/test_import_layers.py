"""The house's floors: imports run one way, from the ground up (DESIGN.md). Every module of the project is
parsed, its imports (module level and inside functions) are read, and an import of a higher floor fails the
test, naming the arrow."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Top-level package (or folder) -> floor. A module may import its own floor and those below it.
FLOORS = {
    "burnout_base": 0,  # settings, MLflow wiring
    "etl": 1,  # data contract, lake, ETL steps
    "modeling": 2,  # families, tuning, evaluation, registry
    "monitoring": 2.5,  # the prediction log and what is computed from it (drift, batch scores)
    "pipeline": 2.8,  # the pipeline's declared steps and summary, the API reload call
    "burnout_api": 3,  # the service and the stream worker
    "dag_helpers": 4,  # Airflow tasks and DAG defaults (only in the Airflow image)
    "dags": 4,  # the DAG files
    "burnout_dev": 4.5,  # demo, local stack, process helpers, in-process Airflow
    "burnout_cli": 5,  # the `burnout` command line
    "benchmarks": 6,  # never imported by anything
}
# The folder layout shows the floors: the library under airflow/plugins (0 to 2.8, and the DAG helpers, which
# need Airflow), the service under fastapi/, the command line and the development tools under tools/.
SOURCES = {
    "burnout_base": REPO / "airflow/plugins/burnout_base",
    "etl": REPO / "airflow/plugins/etl",
    "modeling": REPO / "airflow/plugins/modeling",
    "monitoring": REPO / "airflow/plugins/monitoring",
    "pipeline": REPO / "airflow/plugins/pipeline",
    "dag_helpers": REPO / "airflow/plugins/dag_helpers",
    "burnout_api": REPO / "fastapi/burnout_api",
    "dags": REPO / "airflow/dags",
    "burnout_dev": REPO / "tools/burnout_dev",
    "burnout_cli": REPO / "tools/burnout_cli",
    "benchmarks": REPO / "benchmarks",
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of everything a file imports (relative imports stay in their own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def upward_arrows(sources: dict[str, Path], floors: dict[str, int], root: Path = REPO) -> list[str]:
    arrows = []
    for package, folder in sources.items():
        for path in sorted(folder.rglob("*.py")):
            if "grpc_gen" in path.parts:
                continue
            for target in sorted(imported_packages(path) & floors.keys()):
                if floors[target] > floors[package]:
                    arrows.append(f"{path.relative_to(root)} ({package}) imports {target}")
    return arrows


def test_no_import_runs_from_a_lower_floor_to_a_higher_one():
    assert upward_arrows(SOURCES, FLOORS) == []


def test_every_package_of_the_project_has_a_floor():
    roots = [REPO / "airflow/plugins", REPO / "fastapi", REPO / "tools"]
    installed = {path.name for root in roots for path in root.iterdir() if (path / "__init__.py").exists()}
    assert installed <= FLOORS.keys()


def test_upward_arrow_is_named(tmp_path):
    (tmp_path / "etl").mkdir()
    (tmp_path / "etl" / "bad.py").write_text("def f():\n    from modeling.train import train\n")

    arrows = upward_arrows({"etl": tmp_path / "etl"}, FLOORS, root=tmp_path)

    assert arrows == ["etl/bad.py (etl) imports modeling"]
