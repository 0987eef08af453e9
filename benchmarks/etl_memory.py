"""ETL time and peak memory on the benchmark's dataset (the real one when it exists) and on a copy 100 times
larger (its data lines repeated, about 2.3 M rows and 200 MB for the real dataset), each in a fresh process.

How memory is measured: the resident set size (RSS) high-water mark of a child process that runs `run_etl`
once, minus that process's RSS just before the call. RSS is what the machine has to provide (and what the
issue measured: 5.2 GB for 2.3 M rows); tracemalloc would miss Arrow's text buffers and what the allocators
keep. Before the call, the child imports everything and runs the ETL once on a 300-row file in the same home
(imports, the MLflow store's creation and first-call set-ups are paid once per process, whatever the input),
hands freed memory back (`etl.memory.release_freed_memory`) and resets the kernel's high-water mark
(/proc/self/clear_refs). The input's bytes are read inside the measured call, so they count. Linux only.

`python -m benchmarks.etl_memory` runs this section alone; `make bench` runs it with the others.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer

from benchmarks.data import PROJECT_ROOT, resolve_dataset
from benchmarks.pipeline_bench import isolated_settings
from benchmarks.servers import child_env
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
SCALE = 100
LIMIT_RATIO = 5.0  # the bound: peak memory at most about 5 times the input's size
WARM_UP_ROWS = 300


def run_etl_memory_bench(settings: Settings, folder: Path, dataset: Path | None = None) -> dict:
    """Measure the ETL on the dataset and on its SCALE-times copy (written under `folder`, deleted after)."""
    work = folder / "etl-memory"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path, kind = resolve_dataset(folder, settings.seed, dataset)
    scaled = write_scaled_copy(path, work / f"x{SCALE}.csv", SCALE)
    try:
        rows = [
            {"input": f"{kind} x1", **measure_etl_memory(path, work / "home-x1", settings)},
            {"input": f"{kind} x{SCALE}", **measure_etl_memory(scaled, work / f"home-x{SCALE}", settings)},
        ]
    finally:
        scaled.unlink(missing_ok=True)  # 200 MB of repeated rows
    for row in rows:
        row["met"] = row["peak_ratio"] <= LIMIT_RATIO
    log.info("ETL time and peak memory:\n%s", format_table(rows))
    return {"dataset": str(path), "limit_ratio": LIMIT_RATIO, "rows": rows}


def measure_etl_memory(csv: Path, home: Path, settings: Settings | None = None) -> dict:
    """Run the ETL on `csv` in a fresh child process with its own embedded home (see the module docstring);
    return input_bytes, peak_bytes, peak_ratio, seconds and the ETL's row counts."""
    settings = isolated_settings(settings or Settings(_env_file=None), home)
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "benchmarks.etl_memory", "--child", str(csv)]
    env = child_env(settings)
    # The child starts in its home (no .env there); benchmarks/ is importable from the project root only.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the ETL memory child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def write_scaled_copy(source: Path, target: Path, times: int) -> Path:
    """`source`'s header, then its data lines `times` times over (each copy ends with a newline)."""
    with open(source, "rb") as src:
        header = src.readline()
        body = src.read()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.write(header)
        for _ in range(times):
            out.write(body)
    return target


def format_table(rows: list[dict]) -> str:
    """One line per input: size, peak, ratio against the limit, time."""
    lines = [f"{'input':<16}{'rows':>10}{'input MB':>10}{'peak MB':>10}{'peak/input':>12}{'seconds':>9}"]
    for r in rows:
        mark = "" if r["met"] else f"  (over {LIMIT_RATIO:g}x)"
        lines.append(
            f"{r['input']:<16}{r['rows_in']:>10}{r['input_bytes'] / 1e6:>10.1f}{r['peak_bytes'] / 1e6:>10.1f}"
            f"{r['peak_ratio']:>11.2f}x{r['seconds']:>9.1f}{mark}"
        )
    return "\n".join(lines)


def memory_targets(figures: dict) -> list[dict]:
    """The issue's memory bound as benchmark targets (the report lists and checks them with the others)."""
    return [
        {
            "target": f"ETL peak memory / input size ({r['input']}, {r['input_bytes'] / 1e6:.0f} MB)",
            "measured": r["peak_ratio"],
            "goal": f"<= {figures['limit_ratio']:g}x",
            "met": r["met"],
            "note": f"peak {r['peak_bytes'] / 1e6:.0f} MB, {r['seconds']:.1f} s",
        }
        for r in figures["rows"]
    ]


def measure_in_this_process(csv: Path) -> dict:
    """The child's side: warm up, then run the ETL once on `csv` and report its peak RSS over the baseline."""
    from burnout_base.settings import get_settings
    from etl.memory import release_freed_memory
    from etl.run_etl import run_etl
    from etl.synthetic import write_synthetic_csv

    settings = get_settings()
    warm_up = write_synthetic_csv(settings.home / "warm-up.csv", rows=WARM_UP_ROWS, seed=settings.seed)
    run_etl(warm_up["path"], settings)
    release_freed_memory()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    baseline = _status_bytes("VmRSS")
    started = time.monotonic()
    summary = run_etl(str(csv), settings)
    seconds = time.monotonic() - started
    peak = _status_bytes("VmHWM") - baseline
    size = os.path.getsize(csv)
    return {
        "input_bytes": size,
        "peak_bytes": peak,
        "peak_ratio": peak / size,
        "seconds": seconds,
        "baseline_rss_bytes": baseline,
        "rows_in": summary["rows_in"],
        "rows_kept": summary["rows_kept"],
        "rows_quarantined": summary["rows_quarantined"],
    }


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def main(argv: list[str]) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if argv[:1] == ["--child"]:
        logging.getLogger().setLevel(logging.WARNING)  # the parent reads stdout; keep stderr short
        typer.echo(json.dumps(measure_in_this_process(Path(argv[1]))))
        return
    from burnout_base.settings import get_settings

    settings = get_settings()
    settings.ensure_home()
    typer.echo(json.dumps(run_etl_memory_bench(settings, settings.home / "bench"), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
