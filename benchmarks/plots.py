"""The cost curves as PNG (matplotlib, no display): latency per record against batch size, and throughput
against concurrency per protocol. Each plot is drawn from the points benchmarks/curves.py measured."""

from __future__ import annotations

from pathlib import Path

from benchmarks.curves import GRPC, IN_PROCESS, LATENCY_BY_BATCH, REST, THROUGHPUT_BY_CONCURRENCY

LATENCY_PNG, THROUGHPUT_PNG = "latency-per-record.png", "throughput-by-concurrency.png"
# A ceiling is a bound, not a server: dashed; the in-process floor is not a server either: dotted.
LINE_STYLES = {"ceiling": "--", IN_PROCESS: ":"}


def series_points(points: list[dict], curve: str) -> dict[str, list[dict]]:
    """The points of `curve`, grouped by series in the order measured and sorted by x; points with errors
    are left out (a curve would show a figure that is not the server's)."""
    grouped: dict[str, list[dict]] = {}
    for point in points:
        if point["curve"] == curve and not point["errors"] and point["requests"] > 0:
            grouped.setdefault(point["series"], []).append(point)
    return {series: sorted(found, key=lambda p: p["x"]) for series, found in grouped.items()}


def microseconds_per_record(point: dict) -> float:
    """A latency point's p50 shared among the records of its request."""
    return 1e3 * point["p50_ms"] / point["x"]


def _line_style(series: str, protocol: str) -> str:
    if "ceiling" in series:
        return LINE_STYLES["ceiling"]
    return LINE_STYLES.get(protocol, "-")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def plot_latency_per_record(points: list[dict], path: Path, subtitle: str) -> Path:
    """p50 latency of a request divided by its records, against records per request (both log), c=1."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for series, found in series_points(points, LATENCY_BY_BATCH).items():
        ax.plot(
            [p["x"] for p in found],
            [microseconds_per_record(p) for p in found],
            _line_style(series, found[0]["protocol"]),
            marker="o",
            label=series,
        )
    ax.set_xscale("log")
    ax.set_xticks(sorted({p["x"] for p in points if p["curve"] == LATENCY_BY_BATCH}))
    ax.get_xaxis().set_major_formatter("{x:,.0f}")
    ax.set_yscale("log")
    ax.set_xlabel("records per request (one client, c=1)")
    ax.set_ylabel("p50 latency per record, µs (log)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"What a record costs as the batch grows\n{subtitle}", fontsize=10)
    return _save(fig, plt, path)


def plot_throughput_by_concurrency(points: list[dict], path: Path, subtitle: str) -> Path:
    """Single records: requests per second against concurrent clients, one panel per protocol (REST with wrk,
    gRPC with h2load); the fixed-response ceiling dashed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    grouped = series_points(points, THROUGHPUT_BY_CONCURRENCY)
    for ax, protocol, client in ((axes[0], REST, "wrk"), (axes[1], GRPC, "h2load")):
        for series, found in grouped.items():
            if found[0]["protocol"] != protocol:
                continue
            ax.plot(
                [p["x"] for p in found],
                [p["rps"] for p in found],
                _line_style(series, protocol),
                marker="o",
                label=series,
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({p["x"] for found in grouped.values() for p in found}))
        ax.get_xaxis().set_major_formatter("{x:g}")
        ax.set_yscale("log")
        ax.set_xlabel(f"concurrent connections, one request in flight each ({client})")
        ax.set_title(f"{protocol}, one record per request", fontsize=10)
        ax.grid(which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a run without this protocol's points draws an empty panel
            ax.legend(fontsize=8)
    axes[0].set_ylabel("requests / s (log)")
    fig.suptitle(f"Throughput as the clients grow\n{subtitle}", fontsize=10)
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_curves(points: list[dict], folder: Path, subtitle: str) -> dict[str, Path]:
    """Both plots into `folder`; their paths by name."""
    return {
        "latency_plot": plot_latency_per_record(points, folder / LATENCY_PNG, subtitle),
        "throughput_plot": plot_throughput_by_concurrency(points, folder / THROUGHPUT_PNG, subtitle),
    }
