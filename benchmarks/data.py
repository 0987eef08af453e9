"""Which dataset the benchmark uses: the real one beside the project when it exists, synthetic otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
DATASET_NAME = "enriched_employee_dataset.csv"
REAL_ROWS = 22_750
# benchmarks/data.py -> the project root is one folder up.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def find_real_dataset() -> Path | None:
    """`../shared/data/enriched_employee_dataset.csv` beside the project (or the working directory), if
    any."""
    for root in (PROJECT_ROOT, Path.cwd()):
        candidate = root.parent / "shared" / "data" / DATASET_NAME
        if candidate.is_file():
            return candidate
    return None


def resolve_dataset(folder: Path, seed: int, dataset: Path | None = None) -> tuple[Path, str]:
    """The CSV to run the pipeline on and its kind: "real" (the real dataset), "custom" (another CSV given as
    `dataset`) or "synthetic" (written into `folder`, with the real data's size, when no real dataset
    exists)."""
    real = find_real_dataset()
    if dataset is not None:
        if not dataset.is_file():
            raise FileNotFoundError(f"dataset not found: {dataset}")
        same = real is not None and dataset.resolve() == real.resolve()
        return dataset, "real" if same else "custom"
    if real is not None:
        return real, "real"
    from etl.synthetic import write_synthetic_csv

    path = folder / f"synthetic-{seed}.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_synthetic_csv(path, rows=REAL_ROWS, seed=seed)
        log.info("no real dataset found; wrote a synthetic one to %s", path)
    return path, "synthetic"
