"""Pipeline figures: `burnout pipeline` at the configured (by default, the default) tuning budget in a fresh
embedded BURNOUT_HOME under the bench folder, on the real dataset when it exists (synthetic otherwise)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.data import resolve_dataset
from benchmarks.servers import child_env
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)


def isolated_settings(settings: Settings, home: Path) -> Settings:
    """Embedded-mode settings under `home` with the same seed, split and tuning budget as `settings`.

    Every location is passed explicitly so that no BURNOUT_* variable of the caller (say, a compose MLflow)
    leaks in, and the API URL points at a closed port so that the run's reload notice reaches no running
    service."""
    return Settings(
        _env_file=None,
        home=home,
        lake_backend="local",
        lake_root=home / "lake",
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        mlflow_artifact_root=(home / "mlartifacts").as_uri(),
        optuna_storage=f"sqlite:///{home / 'optuna.db'}",
        seed=settings.seed,
        test_size=settings.test_size,
        tuning_trials=settings.tuning_trials,
        tuning_timeout_s=settings.tuning_timeout_s,
        cv_folds=settings.cv_folds,
        registered_model_name=settings.registered_model_name,
        reload_token=None,
        api_url=f"http://127.0.0.1:{free_port()}",
    )


def describe_budget(settings: Settings) -> tuple[str, bool]:
    """A readable tuning budget, and whether it is the platform's default one."""
    fields = Settings.model_fields
    default = all(
        getattr(settings, f) == fields[f].default for f in ("tuning_trials", "tuning_timeout_s", "cv_folds")
    )
    timeout = "" if settings.tuning_timeout_s is None else f", {settings.tuning_timeout_s:g} s per family"
    return f"{settings.tuning_trials} trials, {settings.cv_folds}-fold CV{timeout}", default


def run_pipeline_bench(settings: Settings, folder: Path, dataset: Path | None = None) -> dict:
    """Run the whole pipeline once in a fresh home as the CLI would (`burnout pipeline --input CSV`), timing
    it end to end from outside; ETL and per-family times come from the pipeline's own summary."""
    home = folder / "pipeline-home"
    if home.exists():
        shutil.rmtree(home)  # a reused dataset or study would make the times meaningless
    home.mkdir(parents=True)
    path, kind = resolve_dataset(folder, settings.seed, dataset)
    pipeline_settings = isolated_settings(settings, home)
    budget, default_budget = describe_budget(pipeline_settings)
    log.info("pipeline benchmark on %s data (%s) in %s: this takes minutes", kind, budget, home)
    command = [sys.executable, "-m", "burnout_cli", "pipeline", "--input", str(path)]
    started = time.monotonic()
    with open(folder / "pipeline.log", "w") as err:
        done = subprocess.run(
            command, env=child_env(pipeline_settings), cwd=home, stdout=subprocess.PIPE, stderr=err, text=True
        )
    end_to_end = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the pipeline failed ({done.returncode}); see {folder / 'pipeline.log'}")
    summary = json.loads(done.stdout)
    figures = summarize_pipeline(summary)
    return {
        "data": kind,
        "dataset": str(path),
        "budget": budget,
        "default_budget": default_budget,
        "end_to_end_s": end_to_end,
        **figures,
        "home": str(home),
    }


def summarize_pipeline(summary: dict) -> dict:
    """ETL seconds, per-family tuning + fit seconds and test macro-F1, and the champion, from run_pipeline's
    summary (`pipeline.run.run_pipeline`)."""
    seconds, champion = summary["seconds"], summary["champion"]
    families = [
        {
            "family": family,
            "seconds": seconds.get(f"train_{family}", trained["seconds"]),
            "cv_macro_f1": trained["cv_macro_f1"],
            "test_macro_f1": trained["test_metrics"]["macro_f1"],
            "model_version": trained["model_version"],
        }
        for family, trained in summary["families"].items()
    ]
    return {
        "rows": summary["etl"]["rows_in"],
        "rows_kept": summary["etl"]["rows_kept"],
        "etl_s": seconds["etl"],
        "families": families,
        "promote_s": seconds.get("promote"),
        "in_process_total_s": seconds.get("total"),
        "champion_family": champion["family"],
        "champion_version": champion["version"],
        "champion_test_macro_f1": champion["test_metrics"]["macro_f1"],
    }
