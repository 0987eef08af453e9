"""The global explanation a training run logs: each raw feature's mean absolute contribution on TEST, per
class, as a table and a chart; and the background sample the service explains non-tree models against.

Exact explanations (LightGBM) cover every TEST record. Approximate ones cost about 3,000 model rows per record
(see `modeling.explain`), so they cover a fixed, class-stratified sample of APPROXIMATE_ROWS TEST records: the
ranking of the leading features is stable at that size, the small differences at the bottom are not."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from etl.contract import CLASSES, FEATURES
from etl.dataset import ProcessedDataset
from modeling.explain import Explanations, build_explainer, select_background
from modeling.registry_names import BACKGROUND_ARTIFACT, IMPORTANCE_CHART_ARTIFACT, IMPORTANCE_TABLE_ARTIFACT
from modeling.scoring import Scorer, arrays_of

APPROXIMATE_ROWS = 32


def log_background(dataset: ProcessedDataset, seed: int) -> None:
    """Log the fixed background sample of TRAIN records to the active run (`BACKGROUND_ARTIFACT`)."""
    sample = select_background(dataset.train_raw, dataset.y_train, seed)
    mlflow.log_dict({"records": json_records(sample)}, BACKGROUND_ARTIFACT)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Records as plain JSON values, missing ones as null."""
    return [
        {name: (None if pd.isna(value) else value) for name, value in record.items()}
        for record in frame.astype(object).to_dict(orient="records")
    ]


def explain_test(pipeline, dataset: ProcessedDataset, seed: int) -> tuple[Explanations, int] | None:
    """Explanations of the TEST records (all, or the stratified sample for approximate methods) and how many
    records they cover; None when the model has no explainer."""
    background = arrays_of(select_background(dataset.train_raw, dataset.y_train, seed))
    explainer = build_explainer(pipeline, background, Scorer(pipeline).fast)
    if explainer is None:
        return None
    records = dataset.test_raw
    if not explainer.exact:
        records = select_background(dataset.test_raw, dataset.y_test, seed, rows=APPROXIMATE_ROWS)
    explanations = explainer.explain(*arrays_of(records))
    return explanations, len(records)


def importance_table(explanations: Explanations) -> pd.DataFrame:
    """Per feature: mean |contribution| to each class's output, and their sum; largest first."""
    mean_abs = np.abs(explanations.contributions).mean(axis=0)  # (classes, features)
    table = pd.DataFrame(mean_abs.T, columns=list(CLASSES))
    table.insert(0, "feature", list(FEATURES))
    table["total"] = mean_abs.sum(axis=0)
    return table.sort_values("total", ascending=False, kind="stable").reset_index(drop=True)


def plot_importance(table: pd.DataFrame, explanations: Explanations, records: int) -> Figure:
    """Stacked horizontal bars of mean |contribution| per class (a bare Figure: no pyplot state)."""
    figure = Figure(figsize=(7.5, 5.0), dpi=100)
    axes = figure.add_subplot()
    rows = table.iloc[::-1]  # largest on top
    left = np.zeros(len(rows))
    for name in CLASSES:
        axes.barh(rows["feature"], rows[name], left=left, label=name)
        left += rows[name].to_numpy()
    scale = "log-odds" if explanations.scale == "log_odds" else "probability"
    kind = "exact TreeSHAP" if explanations.exact else "permutation SHAP, approximate"
    axes.set_xlabel(f"mean |contribution| ({scale})")
    axes.set_title(f"Feature importance on TEST ({kind}, {records:,} records)")
    axes.legend(title="class", loc="lower right")
    figure.tight_layout()
    return figure


def log_importance(pipeline, dataset: ProcessedDataset, seed: int) -> list[tuple[str, float]]:
    """Log the importance table (`IMPORTANCE_TABLE_ARTIFACT`) and chart (`IMPORTANCE_CHART_ARTIFACT`) to the
    active run; return (feature, total mean |contribution|) largest first, or [] without an explainer."""
    explained = explain_test(pipeline, dataset, seed)
    if explained is None:
        return []
    explanations, records = explained
    table = importance_table(explanations)
    mlflow.log_table(table, IMPORTANCE_TABLE_ARTIFACT)
    mlflow.log_figure(plot_importance(table, explanations, records), IMPORTANCE_CHART_ARTIFACT)
    mlflow.set_tags(
        {
            "explanation_method": explanations.method,
            "explanation_scale": explanations.scale,
            "importance_records": str(records),
        }
    )
    return [(row.feature, float(row.total)) for row in table.itertuples()]
