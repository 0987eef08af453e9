"""Tuning one family with K=1 and K=2 tuning workers at the same trial budget: wall time to the budget and the
study's best CV macro-F1, side by side in one run.

Both runs tune the same family on the same published dataset (the real one when it exists), each with a fresh
Postgres database as its Optuna storage, as the stack keeps it (SQLite would take the workers' writes in
turn). The K workers are K processes started side by side, each running `modeling.train.tune_share` as a
mapped `tune` task does on a Celery worker; the study, its starting trial and the MLflow run are planned once
beforehand (`plan_training`), outside the timing. Wall time runs from the workers' start to the last one's
exit, so each process's imports and dataset load count, as they do for a task. The budget is trials only:
the timeout is an hour, out of reach.

What to expect: each trial fits single-threaded (the families' estimators run with n_jobs=1), so on a machine
with at least K free cores K workers reach the budget in about 1/K of the time, and the best CV score stays
within the trials' noise (TPE sees the other worker's finished trials, not its running ones). The machine's
other work takes cores from the workers: each row gives the load average before and after it.

`python -m benchmarks.tuning_spread [--trials N] [--family F]` runs this section alone; `make bench` runs it
with the pipeline figures. Needs a Postgres (BURNOUT_BENCH_POSTGRES, default the local one, user postgres);
without one the section is skipped with a note.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.data import PROJECT_ROOT, resolve_dataset
from benchmarks.pipeline_bench import isolated_settings
from benchmarks.servers import child_env
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
POSTGRES_ADMIN_URL = os.environ.get(
    "BURNOUT_BENCH_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
FAMILY = "lightgbm"
TRIALS = 20
WORKER_COUNTS = (1, 2)
NO_TIMEOUT_S = 3600.0
CHILD_MODULE = "benchmarks.tuning_spread"  # not __name__: that is "__main__" under `python -m`


def run_tuning_spread_bench(
    settings: Settings,
    folder: Path,
    dataset: Path | None = None,
    family: str = FAMILY,
    trials: int = TRIALS,
) -> dict:
    """Tune `family` to `trials` finished trials with each of WORKER_COUNTS workers (see the module
    docstring); returns data, family, trials, rows [{workers, wall_s, trials_finished, best_cv_macro_f1,
    trials_by_worker, mean_trial_s}] and speedup (K=1's wall time over K=2's), or skipped with the reason."""
    from etl.run_etl import run_etl

    work = folder / "tuning-spread"
    shutil.rmtree(work, ignore_errors=True)
    path, kind = resolve_dataset(folder, settings.seed, dataset)
    base = isolated_settings(settings, work / "home")
    base.ensure_home()
    version = run_etl(str(path), base)["dataset_version"]
    rows = []
    for workers in WORKER_COUNTS:
        with throwaway_database() as url:
            if url is None:
                log.warning("no Postgres at %s: tuning spread not measured", POSTGRES_ADMIN_URL)
                return {"data": kind, "family": family, "skipped": f"no Postgres at {POSTGRES_ADMIN_URL}"}
            storage = base.model_copy(update={"optuna_storage": url})
            rows.append(measure_tuning(storage, family, version, trials, workers, work))
    wall = {row["workers"]: row["wall_s"] for row in rows}
    figures = {
        "data": kind,
        "family": family,
        "dataset_version": version,
        "trials": trials,
        "cv_folds": base.cv_folds,
        "rows": rows,
        "speedup": round(wall[1] / wall[2], 2) if wall.get(2) else None,
    }
    log.info("tuning spread:\n%s", format_table(figures))
    return figures


def measure_tuning(
    settings: Settings, family: str, version: str, trials: int, workers: int, work: Path
) -> dict:
    """Plan the family's study, then run `workers` tuning processes side by side until the budget."""
    import optuna

    from modeling.train import plan_training
    from modeling.tune import FINISHED, WORKER_ATTR

    plan = plan_training(
        family, settings, version, {"trials": trials, "timeout_s": NO_TIMEOUT_S, "workers": workers}
    )
    plan_file = work / f"plan-k{workers}.json"
    plan_file.write_text(json.dumps(plan))
    env = child_env(settings)
    # The children start in the bench home (no .env there); benchmarks/ is importable from the root only.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    log.info("tuning %s to %d trials with %d worker process(es)", family, trials, workers)
    load_before = os.getloadavg()[0]  # the machine's other work: it takes cores from the workers
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        children = []
        for worker in plan["workers"]:
            out = stack.enter_context(open(work / f"worker-k{workers}-{worker}.log", "w"))
            command = [sys.executable, "-m", CHILD_MODULE, "--child", str(plan_file), str(worker)]
            children.append(
                subprocess.Popen(command, env=env, cwd=settings.home, stdout=out, stderr=subprocess.STDOUT)
            )
        codes = [child.wait() for child in children]
    wall = time.monotonic() - started
    if any(codes):
        raise RuntimeError(f"a tuning worker failed ({codes}); see {work}/worker-k{workers}-*.log")
    study = optuna.load_study(study_name=plan["study_name"], storage=settings.optuna_storage)
    finished = study.get_trials(deepcopy=False, states=FINISHED)
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in finished]
    by_worker = Counter(int(t.user_attrs.get(WORKER_ATTR, 0)) for t in finished)
    return {
        "workers": workers,
        "wall_s": round(wall, 1),
        "trials_finished": len(finished),
        "best_cv_macro_f1": round(study.best_value, 4),
        "trials_by_worker": {str(w): n for w, n in sorted(by_worker.items())},
        "mean_trial_s": round(sum(seconds) / len(seconds), 2) if seconds else None,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


@contextlib.contextmanager
def throwaway_database() -> Iterator[str | None]:
    """A fresh database on the bench's Postgres, dropped afterwards; None when no Postgres answers."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"burnout_bench_{uuid.uuid4().hex[:10]}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        engine.dispose()
        yield None
        return
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def format_table(figures: dict) -> str:
    """One line per worker count: wall time to the budget, trials, best CV macro-F1, trials per worker."""
    lines = [f"{'workers':>8}{'wall s':>9}{'trials':>8}{'best CV':>9}{'s/trial':>9}  per worker"]
    for r in figures["rows"]:
        lines.append(
            f"{r['workers']:>8}{r['wall_s']:>9.1f}{r['trials_finished']:>8}{r['best_cv_macro_f1']:>9.4f}"
            f"{r['mean_trial_s'] or 0:>9.2f}  {r['trials_by_worker']}"
        )
    return "\n".join(lines)


def describe_tuning_spread(figures: dict) -> list[str]:
    """The report's lines: one table row per worker count, and the speed-up."""
    if figures.get("skipped"):
        return ["", f"Tuning spread over workers: not measured ({figures['skipped']})."]
    lines = [
        "",
        f"Tuning {figures['family']} on {figures['data']} data to {figures['trials']} trials "
        f"({figures['cv_folds']}-fold CV), K tuning worker processes sharing one Postgres-backed study: "
        f"K=1 over K=2 wall time {_number(figures['speedup'])}x.",
        "",
        "| workers (K) | wall s to the budget | finished trials | best CV macro-F1 | s per trial | "
        "trials per worker | load average before / after |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in figures["rows"]:
        per_worker = ", ".join(f"#{w}: {n}" for w, n in r["trials_by_worker"].items())
        lines.append(
            f"| {r['workers']} | {r['wall_s']:.1f} | {r['trials_finished']} | {r['best_cv_macro_f1']:.4f} | "
            f"{_number(r['mean_trial_s'])} | {per_worker} | "
            f"{_number(r.get('load_average_before'))} / {_number(r.get('load_average_after'))} |"
        )
    return lines


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def tune_in_this_process(plan_file: Path, worker: int) -> dict:
    """The child's side: one tuning worker of the plan, as the DAG's `tune` task runs it."""
    from burnout_base.settings import get_settings
    from modeling.train import tune_share

    return tune_share(json.loads(plan_file.read_text()), get_settings(), worker)


def main(
    trials: Annotated[int, typer.Option(min=1, help="the study's trial budget")] = TRIALS,
    family: Annotated[str, typer.Option(help="the family to tune")] = FAMILY,
) -> None:
    from burnout_base.settings import get_settings

    settings = get_settings()
    settings.ensure_home()
    figures = run_tuning_spread_bench(settings, settings.home / "bench", family=family, trials=trials)
    typer.echo(json.dumps(figures, indent=2))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if sys.argv[1:2] == ["--child"]:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        typer.echo(json.dumps(tune_in_this_process(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        typer.run(main)
