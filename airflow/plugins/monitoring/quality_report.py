"""The live-quality check's MLflow run (experiment `burnout-monitoring`, run name `model_quality`): tags,
metrics, the summary as JSON, a markdown report and the figures a person looks at (per-version macro-F1 with
its interval, reliability diagram, delay from prediction to outcome, paired shadow differences). Figures are
bare matplotlib Figures (no pyplot state, no GUI backend), as in monitoring.drift_report."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from matplotlib.figure import Figure

from burnout_base.settings import Settings
from burnout_base.tracking import NOTE_TAG, ensure_experiment
from etl.contract import CLASSES

RUN_NAME = "model_quality"


def _label(figures: dict[str, Any]) -> str:
    return f"v{figures['model_version']} {figures['role']}"


def _empty(figure: Figure, axes, text: str) -> Figure:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()
    figure.tight_layout()
    return figure


def plot_macro_f1(versions: list[dict], floor: float | None) -> Figure:
    """One bar per version and role: live macro-F1 with its 95 % interval; the champion's TEST floor."""
    figure = Figure(figsize=(7, 0.5 * max(len(versions), 1) + 1.8))
    axes = figure.subplots()
    if not versions:
        return _empty(figure, axes, "no labelled predictions in the window")
    names = [f"{_label(f)} (n={f['rows']})" for f in versions]
    values = [f["macro_f1"] for f in versions]
    low = [f["macro_f1"] - f["macro_f1_ci"][0] for f in versions]
    high = [f["macro_f1_ci"][1] - f["macro_f1"] for f in versions]
    colors = ["tab:blue" if f["role"] == "served" else "tab:orange" for f in versions]
    axes.barh(names, values, xerr=[low, high], color=colors, capsize=4)
    if floor is not None:
        axes.axvline(floor, color="tab:red", linestyle="--", label=f"champion TEST lower bound {floor:.3f}")
        axes.legend(loc="lower right")
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("live macro-F1 (95 % bootstrap interval)")
    figure.tight_layout()
    return figure


def plot_reliability(versions: list[dict]) -> Figure:
    """Reliability diagram: accuracy against mean confidence of the predicted class, per confidence bin."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.subplots()
    curves = [f for f in versions if f.get("reliability")]
    if not curves:
        return _empty(figure, axes, "no labelled predictions with probabilities")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for f in curves:
        curve = f["reliability"]
        points = [
            (c, a) for c, a in zip(curve["confidence"], curve["accuracy"], strict=True) if c is not None
        ]
        ece = f.get("ece")
        axes.plot(*zip(*points, strict=True), marker="o", label=f"{_label(f)}, ECE {ece:.3f}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence of the predicted class")
    axes.set_ylabel("share correct")
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def plot_delay(delays_h: np.ndarray) -> Figure:
    """Histogram of the hours between a served prediction and its outcome, with the median and p90."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    if len(delays_h) == 0:
        return _empty(figure, axes, "no outcome received for a served prediction")
    axes.hist(delays_h, bins=min(40, max(5, len(delays_h) // 10)), color="tab:blue")
    median, p90 = np.percentile(delays_h, [50, 90])
    axes.axvline(median, color="black", linestyle="--", label=f"median {median:.1f} h")
    axes.axvline(p90, color="tab:red", linestyle="--", label=f"p90 {p90:.1f} h")
    axes.set_xlabel("hours from prediction to outcome")
    axes.set_ylabel("labelled served predictions")
    axes.legend()
    figure.tight_layout()
    return figure


def plot_pairs(pairs: list[dict]) -> Figure:
    """Per (served, shadow) versions: macro-F1(shadow) - macro-F1(served) on the same records, with its
    paired 95 % interval; above 0 the shadow model does better."""
    figure = Figure(figsize=(7, 0.6 * max(len(pairs), 1) + 1.8))
    axes = figure.subplots()
    if not pairs:
        return _empty(figure, axes, "no labelled shadow pairs")
    names = [f"v{p['shadow_version']} vs v{p['served_version']} (n={p['rows']})" for p in pairs]
    values = [p["difference"] for p in pairs]
    low = [p["difference"] - p["ci"][0] for p in pairs]
    high = [p["ci"][1] - p["difference"] for p in pairs]
    axes.errorbar(values, names, xerr=[low, high], fmt="o", capsize=5)
    axes.axvline(0, color="grey", linestyle="--")
    axes.invert_yaxis()
    axes.set_xlabel("macro-F1 shadow - served (paired 95 % interval)")
    figure.tight_layout()
    return figure


def build_figures(summary: dict, delays_h: np.ndarray) -> dict[str, Figure]:
    """Artifact file name -> figure, from a quality summary (monitoring.quality.check_quality)."""
    return {
        "macro_f1_by_version.png": plot_macro_f1(summary["versions"], summary["champion_test_macro_f1_low"]),
        "reliability.png": plot_reliability(summary["versions"]),
        "outcome_delay.png": plot_delay(np.asarray(delays_h, dtype=float)),
        "shadow_difference.png": plot_pairs(summary["shadow_pairs"]),
    }


def _interval(values: list[float] | None) -> str:
    return "" if values is None else f" [{values[0]:.3f}, {values[1]:.3f}]"


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def describe_quality_run(summary: dict) -> str:
    """The run description: the window, coverage, the champion's live score against its TEST floor."""
    window, live = summary["window"], summary.get("champion_live")
    text = (
        f"Live quality of the {summary['rows']} predictions logged {window['start']} to {window['end']}: "
        f"{summary['labelled']} served rows labelled (coverage {_number(summary['coverage'])}), "
        f"{summary['unmatched']} outcome(s) matched nothing. "
    )
    if summary["champion_version"] is None:
        return text + "No champion to judge."
    verdict = "**degraded**: a retrain is due" if summary["degraded"] else "**not degraded**"
    score = (
        "no labelled rows"
        if live is None
        else (f"live macro-F1 {live['macro_f1']:.3f}{_interval(live['macro_f1_ci'])} on {live['rows']} rows")
    )
    return text + (
        f"Champion v{summary['champion_version']}: {score}, TEST lower bound "
        f"{_number(summary['champion_test_macro_f1_low'])} (judged from {summary['min_rows']} rows): "
        f"{verdict}."
    )


def markdown_report(summary: dict) -> str:
    """A readable report of the summary: the verdict, one table per figure family."""
    delay = summary["delay"]
    lines = [
        f"# Live model quality {summary['window']['start']} .. {summary['window']['end']}",
        "",
        describe_quality_run(summary),
        "",
        f"- Delay from prediction to outcome: median {_number(delay['median_h'], 1)} h, "
        f"p90 {_number(delay['p90_h'], 1)} h",
        f"- Training records written: {summary.get('labelled_records', 0)} "
        f"({summary.get('labelled_uri') or 'none'})",
        "",
        "## Per model version",
        "",
        "| version | role | rows | macro-F1 | ECE | " + " | ".join(f"recall {c}" for c in CLASSES) + " |",
        "|---|---|---|---|---|" + "---|" * len(CLASSES),
    ]
    for f in summary["versions"]:
        recalls = " | ".join(f"{_number(f['recall'][c])}{_interval(f['recall_ci'][c])}" for c in CLASSES)
        lines.append(
            f"| v{f['model_version']} | {f['role']} | {f['rows']} | {_number(f['macro_f1'])}"
            f"{_interval(f['macro_f1_ci'])} | {_number(f.get('ece'))}{_interval(f.get('ece_ci'))} | "
            f"{recalls} |"
        )
    lines += ["", "## Shadow pairs (shadow - served, same records)", ""]
    if not summary["shadow_pairs"]:
        lines.append("No labelled shadow pairs.")
    else:
        lines += ["| served | shadow | pairs | difference |", "|---|---|---|---|"]
        for p in summary["shadow_pairs"]:
            lines.append(
                f"| v{p['served_version']} | v{p['shadow_version']} | {p['rows']} | "
                f"{p['difference']:+.4f}{_interval(p['ci'])} |"
            )
    return "\n".join(lines) + "\n"


def quality_metrics(summary: dict) -> dict[str, float]:
    """The run's metrics: counts, coverage, delay, then per version/role and per shadow pair."""
    metrics: dict[str, float | None] = {
        "rows": summary["rows"],
        "labelled": summary["labelled"],
        "labelled_shadow": summary["labelled_shadow"],
        "unmatched": summary["unmatched"],
        "coverage": summary["coverage"],
        "delay_median_h": summary["delay"]["median_h"],
        "delay_p90_h": summary["delay"]["p90_h"],
        "labelled_records": summary.get("labelled_records", 0),
        "champion_test_macro_f1_low": summary["champion_test_macro_f1_low"],
        "degraded": float(summary["degraded"]),
    }
    for f in summary["versions"]:
        prefix = f"v{f['model_version']}_{f['role']}"
        metrics[f"{prefix}/rows"] = f["rows"]
        metrics[f"{prefix}/macro_f1"] = f["macro_f1"]
        metrics[f"{prefix}/macro_f1_ci_low"], metrics[f"{prefix}/macro_f1_ci_high"] = f["macro_f1_ci"]
        metrics[f"{prefix}/ece"] = f.get("ece")
        if f.get("ece_ci"):
            metrics[f"{prefix}/ece_ci_low"], metrics[f"{prefix}/ece_ci_high"] = f["ece_ci"]
        for name, value in f["recall"].items():
            metrics[f"{prefix}/recall_{name}"] = value
    for p in summary["shadow_pairs"]:
        prefix = f"pair_v{p['shadow_version']}_vs_v{p['served_version']}"
        metrics[f"{prefix}/rows"] = p["rows"]
        metrics[f"{prefix}/difference"] = p["difference"]
        if p["ci"]:
            metrics[f"{prefix}/difference_ci_low"], metrics[f"{prefix}/difference_ci_high"] = p["ci"]
    return {name: float(value) for name, value in metrics.items() if value is not None}


def log_quality_run(settings: Settings, summary: dict, delays_h: np.ndarray | None = None) -> str:
    """One MLflow run named `model_quality` in the monitoring experiment; returns its id."""
    experiment_id = ensure_experiment(settings, settings.monitoring_experiment)
    window = summary["window"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=RUN_NAME) as run:
        mlflow.set_tags(
            {
                "kind": "quality",
                "champion_version": str(summary["champion_version"]),
                "window_start": window["start"],
                "window_end": window["end"],
                "degraded": str(summary["degraded"]).lower(),
                NOTE_TAG: describe_quality_run(summary),
            }
        )
        mlflow.log_params(
            {"min_rows": summary["min_rows"], "bootstrap": summary["bootstrap"], "seed": settings.seed}
        )
        mlflow.log_metrics(quality_metrics(summary))
        mlflow.log_dict(summary, "quality_summary.json")
        mlflow.log_text(markdown_report(summary), "quality_report.md")
        delays = np.asarray([] if delays_h is None else delays_h, dtype=float)
        for name, figure in build_figures(summary, delays).items():
            mlflow.log_figure(figure, f"figures/{name}")
        return run.info.run_id
