"""The evidence behind a promotion decision: a registered version's macro-F1 on one TEST split with its 95 %
bootstrap interval, the paired interval of two versions' difference on the same rows, each version's CV mean
and std from its training run, and the sentence that states them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import numpy as np
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sklearn.metrics import f1_score

from burnout_base.settings import Settings
from etl.contract import CLASSES
from etl.dataset import ProcessedDataset
from modeling.model_io import load_model
from modeling.uncertainty import bootstrap_difference, bootstrap_macro_f1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Score:
    """A version's macro-F1 on one TEST split, its 95 % bootstrap interval, and the predictions behind them
    (kept so that two versions' difference can be bootstrapped on the same rows)."""

    macro_f1: float
    ci: tuple[float, float]
    predictions: np.ndarray


def score_version(settings: Settings, version: ModelVersion, dataset: ProcessedDataset, cache: dict) -> Score:
    """Macro-F1 (with its CI) of a registered version on `dataset`'s TEST split, loaded as it is served."""
    key = int(version.version)
    if key not in cache:
        model = load_model(f"models:/{settings.registered_model_name}/{key}")
        y_true, predictions = np.asarray(dataset.y_test), np.asarray(model.predict(dataset.test_raw))
        labels = list(CLASSES)
        score = f1_score(y_true, predictions, labels=labels, average="macro", zero_division=0)
        ci = bootstrap_macro_f1(y_true, predictions, seed=settings.seed, labels=labels)
        cache[key] = Score(float(score), ci, predictions)
        log.info(
            "version %d scores macro-F1 %.4f [%.4f, %.4f] on TEST of %s", key, score, *ci, dataset.version
        )
    return cache[key]


def training_cv(version: ModelVersion | None) -> tuple[float | None, float | None]:
    """The CV macro-F1 mean and std its training run logged (None for what it did not log)."""
    if version is None or not version.run_id:
        return None, None
    try:
        metrics = mlflow.MlflowClient().get_run(version.run_id).data.metrics
    except MlflowException:  # a deleted training run must not block a promotion
        log.warning("version %s: training run %s unreadable, no CV figures", version.version, version.run_id)
        return None, None
    return metrics.get("cv_macro_f1"), metrics.get("cv_macro_f1_std")


def interval(values: tuple[float, float] | None) -> list[float] | None:
    return None if values is None else [float(values[0]), float(values[1])]


def within_noise(difference_ci: tuple[float, float]) -> bool:
    """Whether the paired interval of a difference holds 0: one TEST split cannot tell the two apart."""
    return difference_ci[0] <= 0 <= difference_ci[1]


def state_evidence(
    candidate: Score, champion: Score | None, difference_ci: tuple[float, float] | None
) -> str:
    """The evidence behind a decision, e.g. "0.8612 [0.850, 0.872] vs 0.8590 [0.848, 0.870]; difference
    +0.0022 [-0.004, 0.008], within the noise of one test split"."""

    def scored(score: Score) -> str:
        return f"{score.macro_f1:.4f} [{score.ci[0]:.3f}, {score.ci[1]:.3f}]"

    if champion is None:
        return f"candidate {scored(candidate)}"
    text = f"{scored(candidate)} vs {scored(champion)}"
    if difference_ci is not None:
        noise = "within" if within_noise(difference_ci) else "beyond"
        text += (
            f"; difference {candidate.macro_f1 - champion.macro_f1:+.4f} "
            f"[{difference_ci[0]:.3f}, {difference_ci[1]:.3f}], {noise} the noise of one test split"
        )
    return text


def compare(
    settings: Settings, candidate: Score, champion: Score, dataset: ProcessedDataset
) -> tuple[float, float]:
    """The paired bootstrap interval of candidate minus champion macro-F1 on the same TEST rows."""
    return bootstrap_difference(
        np.asarray(dataset.y_test),
        candidate.predictions,
        champion.predictions,
        seed=settings.seed,
        labels=list(CLASSES),
    )
