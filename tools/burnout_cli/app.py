"""The `burnout` command line: a thin Typer layer over the library. Each command prints one JSON document on
stdout (logs go to stderr) and exits non-zero with a one-line error on bad input, never a traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from burnout_base.settings import describe_seconds, get_settings, setting_default

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
local_app = typer.Typer(no_args_is_help=True, help="Run the platform's services as local processes.")
app.add_typer(local_app, name="local")
challenger_app = typer.Typer(
    no_args_is_help=True,
    help="Set or clear alias `challenger`, the version the live evidence compares with the champion.",
)
app.add_typer(challenger_app, name="challenger")
log = logging.getLogger("burnout")
# --help states the settings' defaults, read from the settings model (not the environment).
TRIALS_HELP = f"Optuna trials per family; default BURNOUT_TUNING_TRIALS ({setting_default('tuning_trials')})"
TIMEOUT_HELP = (
    "tuning seconds per family; default BURNOUT_TUNING_TIMEOUT_S "
    f"({describe_seconds(setting_default('tuning_timeout_s'))})"
)
WINDOW_HELP = (
    f"window length in days; default BURNOUT_DRIFT_WINDOW_DAYS ({setting_default('drift_window_days')})"
)


class UserError(Exception):
    """An error caused by the user's input: reported as one line, exit code 2."""


def _emit(payload: object) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Read once here so that a bad environment is one clear line, whichever command needs the settings.
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as exc:
        reasons = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        typer.secho(f"error: invalid settings: {reasons}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _run(fn, *args, failures: tuple[type[Exception], ...] = (), **kwargs):
    """Call a library function, turning user errors into one clear line instead of a traceback (exit 2), and
    `failures` (a run that failed and logged why) into one line too (exit 1)."""
    from burnout_base.settings import SettingsError
    from etl.errors import InputError

    try:
        return fn(*args, **kwargs)
    except (InputError, UserError, SettingsError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    except failures as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


@app.command("generate-data")
def generate_data(
    rows: Annotated[int, typer.Option(min=1)] = 22_750,
    seed: int = 42,
    out: Annotated[Path, typer.Option()] = Path("data/enriched_employee_dataset.csv"),
) -> None:
    """Write a synthetic dataset with the real data's schema, distributions and missing values."""
    from etl.synthetic import write_synthetic_csv

    _emit(_run(write_synthetic_csv, out, rows=rows, seed=seed))


@app.command()
def etl(input: Annotated[str, typer.Option("--input", help="CSV path or s3://bucket/key")]) -> None:
    """Validate, clean, split, fit the preprocessor on TRAIN and publish a versioned dataset."""
    from etl.run_etl import run_etl

    _emit(_run(run_etl, input, get_settings()))


@app.command()
def train(
    family: Annotated[str, typer.Option(help="lightgbm, knn, svm or ensemble")],
    trials: Annotated[int | None, typer.Option(min=1, help=TRIALS_HELP)] = None,
    timeout: Annotated[float | None, typer.Option(help=TIMEOUT_HELP)] = None,
    dataset_version: Annotated[str | None, typer.Option(help="default: the latest")] = None,
) -> None:
    """Tune a family with Optuna on TRAIN (CV), fit, evaluate once on TEST, register under its alias. The
    ensemble instead weighs the families' versions trained on that dataset (train them first; --trials and
    --timeout do not apply to it)."""
    from modeling.registry_names import ENSEMBLE

    if family == ENSEMBLE:
        from modeling.ensemble import train_ensemble

        _emit(_run(train_ensemble, get_settings(), dataset_version))
        return
    from modeling.train import train_family

    _emit(
        _run(
            train_family,
            family,
            get_settings(),
            dataset_version=dataset_version,
            trials=trials,
            timeout=timeout,
        )
    )


@app.command()
def promote(
    version: Annotated[
        int | None, typer.Option(help="force alias champion onto this version (rollback)")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option(help="alias or version to propose; default: all families")
    ] = None,
) -> None:
    """Move alias `champion` to the best candidate if it beats the incumbent on the current TEST split."""
    from modeling.registry import promote_best, promote_if_better, set_champion

    settings = get_settings()
    if version is not None:
        _emit(_run(set_champion, settings, version))
    elif candidate is not None:
        _emit(_run(promote_if_better, settings, candidate))
    else:
        _emit(_run(promote_best, settings))


@challenger_app.command("set")
def challenger_set(version: Annotated[int, typer.Argument(min=1, help="model version to challenge")]) -> None:
    """Put alias `challenger` on VERSION (the champion's version is refused)."""
    from modeling.challenger import set_challenger

    _emit(_run(set_challenger, get_settings(), version))


@challenger_app.command("clear")
def challenger_clear() -> None:
    """Remove alias `challenger` (promotion sets it again after its next decision)."""
    from modeling.challenger import clear_challenger

    _emit(_run(clear_challenger, get_settings()))


@app.command()
def score(
    input: Annotated[
        str | None,
        typer.Option("--input", help="CSV or Parquet: path or s3://bucket/key; default: raw object"),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help=".parquet or .csv: path or s3://bucket/key; default: beside the input")
    ] = None,
    model: Annotated[str, typer.Option(help="alias of the model to score with")] = "champion",
    partition_bytes: Annotated[
        int | None,
        typer.Option(min=1024, help="bytes per partition (one output part each); default from settings"),
    ] = None,
) -> None:
    """Score a whole file with the champion (the service's fast path), a few MB at a time, partition after
    partition as the batch_score DAG does: predictions beside an id column in a folder of parts, bad rows
    quarantined with reasons beside it, counts and model version logged to `burnout-scoring`."""
    from monitoring.batch_score import score_file

    _emit(_run(score_file, get_settings(), input, output, alias=model, partition_bytes=partition_bytes))


@app.command()
def pipeline(
    input: Annotated[str | None, typer.Option("--input", help="CSV path or s3:// URI")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help=TRIALS_HELP)] = None,
    timeout: Annotated[float | None, typer.Option(help=TIMEOUT_HELP)] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain/--reuse", help="train a family even if this dataset already has one")
    ] = False,
) -> None:
    """burnout_pipeline's steps in this process: ingest, ETL, the three families and their ensemble (reused
    when this dataset version already has them), promotion, API reload; one JSON summary with the time of each
    step."""
    from pipeline.run import run_pipeline

    _emit(_run(run_pipeline, get_settings(), input=input, trials=trials, timeout=timeout, retrain=retrain))


@app.command()
def drift(
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (default: from --days)")] = None,
    end: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (default: today, UTC)")] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, help=WINDOW_HELP),
    ] = None,
) -> None:
    """drift_monitor's check in this process: the window's logged predictions against the champion's training
    split, the report logged to MLflow (`burnout-monitoring`); `drift: true` is where the DAG asks for
    retraining (asset `burnout_drift`). Too few logged rows: `status: skipped`, exit 0."""
    from monitoring.drift import check_drift

    _emit(_run(lambda: check_drift(get_settings(), start=_day(start), end=_day(end), days=days)))


@app.command()
def quality(
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="days of logged predictions joined with their outcomes, today included "
            f"(default BURNOUT_QUALITY_WINDOW_DAYS, {setting_default('quality_window_days')})",
        ),
    ] = None,
    end: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (default: today, UTC)")] = None,
) -> None:
    """model_quality's check in this process: the window's predictions (served and shadow) joined with the
    outcomes posted to /feedback; live macro-F1, recall and calibration per version with bootstrap intervals,
    label coverage and delay, the shadow's paired difference, logged to MLflow (`burnout-monitoring`); the
    labelled records become a training file in the raw bucket. `degraded: true` is where the DAG asks for
    retraining (asset `burnout_live_quality`). No logged predictions: `status: skipped`, exit 0."""
    from monitoring.quality import check_quality

    _emit(_run(lambda: check_quality(get_settings(), days=days, end=_day(end))))


def _day(text: str | None):
    """A YYYY-MM-DD option as a date (None when unset)."""
    from datetime import date

    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise UserError(f"not a date (YYYY-MM-DD): {text!r}") from None


@app.command()
def serve() -> None:
    """Serve REST + GraphQL (BURNOUT_API_PORT, 8800) and gRPC (BURNOUT_GRPC_PORT, 50051)."""
    from burnout_api.main import serve as run_server

    _run(run_server, get_settings())


@app.command("stream-worker")
def stream_worker() -> None:
    """Score the records POST /predict_stream queued on Redis (BURNOUT_REDIS_URL) with the champion, in
    batches, until SIGTERM; start several to share the work."""
    from burnout_api.stream_worker import run_stream_worker

    _emit(_run(run_stream_worker, get_settings()))


@app.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="library and Airflow logs on the terminal, not in a log file")
    ] = False,
) -> None:
    """Run burnout_pipeline in-process with real Airflow behind a progress display, then serve the champion
    until Ctrl-C. Logs go to BURNOUT_HOME/logs/demo-<time>.log (printed first) unless --verbose."""
    # Development tooling: imported by the commands that use it only, since no image ships it.
    from burnout_dev.airflow_runner import DagRunFailed
    from burnout_dev.demo import run_demo

    # A failed task's own log line, above the error, says why.
    _run(run_demo, get_settings(), serve=serve, verbose=verbose, failures=(DagRunFailed,))


@local_app.command("up")
def local_up() -> None:
    """Start Airflow standalone (8080), the MLflow server (5001) and the API as background processes."""
    from burnout_dev.local_stack import up

    _emit(_run(up, get_settings()))


@local_app.command("down")
def local_down() -> None:
    """Stop every process `burnout local up` started."""
    from burnout_dev.local_stack import down

    _emit(_run(down, get_settings()))
