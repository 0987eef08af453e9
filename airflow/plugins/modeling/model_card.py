"""The model card of a registered version: one Markdown page saying what the model is, what it was trained
and tested on, how good it is with how much uncertainty, and what it must not be used for. Training logs it
as the run artifact MODEL_CARD_ARTIFACT and as the registered version's description (the MLflow UI renders
Markdown there). Built from plain values, so it can be written for any model, family or ensemble."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from etl.contract import CLASSES

TOP_FEATURES = 10
DATA_SOURCE = "Kaggle \u201cAre Your Employees Burning Out?\u201d"


def describe_registered_model(name: str) -> str:
    """The registered model's own description: what every version of it predicts, and the one caveat."""
    return (
        f"**{name}** predicts an employee's burnout risk class ({', '.join(CLASSES)}) from workload and "
        f"wellbeing features. Each version carries its own model card (family, data, test metrics with 95 % "
        f"intervals, limits); the alias `champion` is the version being served. Trained on the public "
        f"{DATA_SOURCE} dataset: not for decisions about individual employees without human review."
    )


def _class_balance(y_train: Sequence, y_test: Sequence) -> list[str]:
    rows = ["| class | TRAIN rows | TRAIN share | TEST rows | TEST share |", "|---|---:|---:|---:|---:|"]
    train, test = pd.Series(y_train).value_counts(), pd.Series(y_test).value_counts()
    for label in CLASSES:
        n_train, n_test = int(train.get(label, 0)), int(test.get(label, 0))
        rows.append(
            f"| {label} | {n_train:,} | {n_train / max(len(y_train), 1):.1%} "
            f"| {n_test:,} | {n_test / max(len(y_test), 1):.1%} |"
        )
    return rows


def _format(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _test_metrics(metrics: Mapping[str, float]) -> list[str]:
    low, high = metrics.get("macro_f1_ci_low"), metrics.get("macro_f1_ci_high")
    interval = f" (95 % bootstrap CI [{_format(low, 3)}, {_format(high, 3)}])" if low is not None else ""
    rows = [
        "| metric | value |",
        "|---|---:|",
        f"| macro-F1 | {_format(metrics.get('macro_f1'))}{interval} |",
    ]
    names = {
        "accuracy": "accuracy",
        "precision_macro": "macro precision",
        "recall_macro": "macro recall",
        "roc_auc_ovr": "ROC-AUC (one-vs-rest, macro)",
    }
    rows += [f"| {label} | {_format(metrics[key])} |" for key, label in names.items() if key in metrics]
    return rows


def _calibration(metrics: Mapping[str, float]) -> list[str]:
    if "brier_score" not in metrics:
        return ["Not measured for this version."]
    return [
        f"- Multiclass Brier score: {_format(metrics['brier_score'])} (0 is perfect, 2 confidently wrong).",
        f"- Top-label expected calibration error (10 bins): "
        f"{_format(metrics.get('expected_calibration_error'))} "
        "(mean gap between confidence and accuracy; reliability chart in `evaluation/reliability.png`).",
    ]


def _importance(importance: Sequence[tuple[str, float]] | None, top: int) -> list[str]:
    if not importance:
        return ["Not computed for this version."]
    rows = [
        "Mean absolute contribution on TEST, summed over classes, in the explainer's units (log-odds for "
        "exact TreeSHAP, probability for permutation SHAP; the run's tag `explanation_scale` says which); "
        "table and chart under `explanation/`.",
        "",
        "| rank | feature | mean \\|contribution\\| |",
        "|---:|---|---:|",
    ]
    rows += [f"| {rank} | {name} | {value:.4f} |" for rank, (name, value) in enumerate(importance[:top], 1)]
    return rows


def _limits(n_test: int, metrics: Mapping[str, float]) -> list[str]:
    low, high = metrics.get("macro_f1_ci_low"), metrics.get("macro_f1_ci_high")
    width = f" (here {high - low:.3f} wide)" if low is not None and high is not None else ""
    return [
        f"- **Target.** The Burn Rate of the public {DATA_SOURCE} competition dataset, bucketed into Low "
        "(< 0.33), Medium (< 0.66) and High, in a file extended with extra columns. It is a proxy from one "
        "dataset, not a clinical measure of burnout.",
        "- **Intended use.** Screening and aggregate views of burnout risk, to prompt a conversation. "
        "Not for decisions about individual employees (hiring, evaluation, pay, dismissal) without human "
        "review.",
        f"- **Uncertainty.** TEST is one split of {n_test:,} rows: differences between models smaller than "
        f"the width of the 95 % interval{width} are noise, not evidence that one model is better.",
        "- **Scope.** Scores outside the population and period of the training data (other companies, "
        "countries, years) are unvalidated; monitor drift before trusting them.",
    ]


@dataclass(frozen=True)
class ModelCardInputs:
    """What a model card is written from, as plain values. `test_metrics` as evaluate_model names them
    (macro_f1, macro_f1_ci_low, ...); `importance` the global ranking [(feature, mean |contribution|), ...],
    most important first; `cv_macro_f1_std` only means something beside `cv_macro_f1`."""

    registered_model_name: str
    family: str
    model_version: int | str
    params: Mapping[str, Any]
    dataset_version: str
    y_train: Sequence
    y_test: Sequence
    test_metrics: Mapping[str, float]
    cv_macro_f1: float | None = None
    cv_macro_f1_std: float | None = None
    importance: Sequence[tuple[str, float]] | None = None
    git_commit: str | None = None


def _model_section(card: ModelCardInputs) -> list[str]:
    params_rows = ["| parameter | value |", "|---|---|"]
    params_rows += [f"| {key} | `{value}` |" for key, value in sorted(card.params.items())] or [
        "| (none) | |"
    ]
    return [
        "## Model",
        f"- Family: **{card.family}**; registered as `{card.registered_model_name}` version "
        f"{card.model_version}, alias `{card.family}`.",
        "- Input: the raw feature columns of the data contract; output: the class "
        f"({', '.join(CLASSES)}) and its probabilities.",
        f"- Code: git commit `{card.git_commit or 'unknown'}`.",
        "",
        *params_rows,
    ]


def _data_section(card: ModelCardInputs) -> list[str]:
    return [
        "## Data",
        f"- Dataset version `{card.dataset_version}`: {len(card.y_train):,} TRAIN rows (tuning by stratified "
        f"K-fold cross-validation and the final fit), {len(card.y_test):,} TEST rows (used once, for the "
        "metrics below).",
        "",
        *_class_balance(card.y_train, card.y_test),
    ]


def _performance_section(card: ModelCardInputs) -> list[str]:
    cv = "not measured"
    if card.cv_macro_f1 is not None:
        std = card.cv_macro_f1_std
        spread = f" \u00b1 {std:.4f} (std over folds)" if std is not None else ""
        cv = f"{card.cv_macro_f1:.4f}{spread}"
    return [
        "## Performance",
        f"- Cross-validated macro-F1 on TRAIN: {cv}.",
        "",
        *_test_metrics(card.test_metrics),
        "",
        "### Calibration",
        *_calibration(card.test_metrics),
    ]


def build_model_card(card: ModelCardInputs, top_features: int = TOP_FEATURES) -> str:
    """The card as Markdown: model, data, performance, the `top_features` most influential features, and
    the intended use and limits."""
    lines = [
        f"# Model card: {card.registered_model_name} v{card.model_version} ({card.family})",
        "",
        *_model_section(card),
        "",
        *_data_section(card),
        "",
        *_performance_section(card),
        "",
        "## Most influential features",
        *_importance(card.importance, top_features),
        "",
        "## Intended use and limits",
        *_limits(len(card.y_test), card.test_metrics),
        "",
    ]
    return "\n".join(lines)
