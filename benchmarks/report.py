"""The benchmark's one table, as text (the log), markdown and JSON, and its cost curves as JSON and PNG, under
`BURNOUT_HOME/bench/`; after a full run, the page docs/benchmarks.md and the curves in docs/benchmarks/."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from benchmarks.plots import LATENCY_PNG, THROUGHPUT_PNG, plot_curves
from benchmarks.shadow_cost import describe_shadow_cost
from benchmarks.tuning_spread import describe_tuning_spread

log = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
CURVES_FOLDER = PAGE.with_suffix("")  # docs/benchmarks/: the plots the README and the page show
CURVES_JSON = "curves.json"
# Above this line the page is make bench's; below it, notes written by hand, kept as they are on every run.
NOTES_MARKER = "<!-- make bench writes above this line; the notes below it are written by hand and kept. -->"
HEADERS = (
    "setting",
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU %",
    "load generator CPU %",
    "vs MLflow",
    "vs MLServer",
)
LEFT_ALIGNED = 2  # setting and server; the numbers are right-aligned


def format_number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def table_cells(rows: list[dict]) -> list[tuple[str, ...]]:
    """One tuple of display strings per row; `!` marks a row whose requests had errors."""
    cells = []
    for row in rows:
        rps = format_number(row["rps"]) + (f" ({row['errors']} errors!)" if row["errors"] else "")
        generator = row.get("load_generator")
        generator_cpu = (
            "-" if generator is None else f"{format_number(row.get('client_cpu_percent'))} ({generator})"
        )
        cells.append(
            (
                row["setting"],
                row["server"],
                rps,
                format_number(row["p50_ms"]),
                format_number(row["p99_ms"]),
                format_number(row.get("cpu_percent")),
                generator_cpu,
                format_ratio(row.get("ratio_vs_mlflow")),
                format_ratio(row.get("ratio_vs_mlserver")),
            )
        )
    return cells


def format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{format_number(ratio)}x"


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table for the terminal."""
    lines = [HEADERS, *table_cells(rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < LEFT_ALIGNED else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def render_markdown(result: dict, machine: bool = True) -> str:
    """The report: the table, the targets, the pipeline times and (with `machine`) the machine it ran on."""
    workers = result.get("api_workers")
    out = [
        f"Measured {result['finished_at']} on model version {result['model_version']} "
        f"({result.get('family', '?')}), {result['seconds_per_setting']:g} s per setting after a warm-up"
        + (
            "."
            if workers is None
            else f"; our service with {workers} worker process(es), MLServer with as many inference workers."
        ),
        "",
    ]
    out += [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * LEFT_ALIGNED + "---:|" * (len(HEADERS) - LEFT_ALIGNED),
    ]
    out += ["| " + " | ".join(cells) + " |" for cells in table_cells(result["rows"])]
    out += [
        "",
        "CPU: percent of one core over the measured run (200 = both cores), the server's process tree and "
        "the load generator's (on the same two cores: wrk for REST, h2load for gRPC, both C; the Python "
        "client row shows what a Python gRPC client costs). In-process rows: the benchmark's own process. "
        "Ratios: req/s over MLflow's server on the same work (gRPC against its REST c=8) and over MLServer's "
        "on the same V2 request and protocol. Fixed answer: our server stack (same process set-up, HTTP "
        "server and grpc.aio) answering a constant of our answer's size, the ceiling of a prediction route.",
        *_describe_records(result.get("records")),
        "",
        "| target | goal | measured | met |",
        "|---|---|---:|---|",
    ]
    for t in result["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        note = f" ({t['note']})" if t["note"] else ""
        out.append(f"| {t['target']} | {t['goal']} | {format_number(t['measured'])} | {met}{note} |")
    if result.get("shadow_cost"):
        out += describe_shadow_cost(result["shadow_cost"])
    pipeline = result.get("pipeline")
    if pipeline:
        out += [
            "",
            f"Pipeline on {pipeline['data']} data ({pipeline['rows']} rows, {pipeline['budget']}): "
            f"ETL {format_number(pipeline['etl_s'])} s, "
            f"end to end {format_number(pipeline['end_to_end_s'])} s, "
            f"champion {pipeline.get('champion_family')} test macro-F1 "
            f"{format_number(pipeline.get('champion_test_macro_f1'), 4)}.",
            "",
            "| family | tuning + fit s | test macro-F1 |",
            "|---|---:|---:|",
        ]
        out += [
            f"| {f['family']} | {format_number(f['seconds'])} | {format_number(f.get('test_macro_f1'), 4)} |"
            for f in pipeline["families"]
        ]
    if result.get("tuning_spread"):
        out += describe_tuning_spread(result["tuning_spread"])
    if machine:
        out += ["", describe_machine(result)]
    return "\n".join(out) + "\n"


def describe_machine(result: dict) -> str:
    """One line: the machine the run measured, and how busy it was before and after."""
    m = result["machine"]
    return (
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}; load average {m['load_average_1m']} before and "
        f"{result.get('load_average_after', '?')} after the run (a shared machine: figures are noisy, "
        "compare ratios within one run)."
    )


def render_page(result: dict, notes: str = "") -> str:
    """docs/benchmarks.md: how to reproduce, the machine, the run's tables, then the hand-written `notes`."""
    return (
        "\n".join(
            [
                "# Benchmarks",
                "",
                "This page is written by `make bench` (`python -m benchmarks`, ~26 minutes on two cores; it",
                "needs `wrk` and `h2load`, which `make bench` installs, and installs MLServer once into",
                "`BURNOUT_HOME/bench/mlserver/`). Run it on a quiet machine to reproduce these figures; the",
                "JSON, the same tables and the cost curves of every run stay under `BURNOUT_HOME/bench/`",
                "(`latest.json`, `latest.md`, `curves.json` and its plots), and the last full run's curves",
                "in [docs/benchmarks/](benchmarks/). How each figure is measured is in the notes",
                "[below the tables](#how-it-is-measured).",
                "",
                describe_machine(result),
                "",
                *describe_curves(result, "benchmarks/"),
                "## The last run",
                "",
                render_markdown(result, machine=False).rstrip("\n"),
                "",
                NOTES_MARKER,
                notes.strip("\n"),
            ]
        ).rstrip("\n")
        + "\n"
    )


def describe_curves(result: dict, image_folder: str) -> list[str]:
    """The cost curves' section of a page: how long each point ran, then both plots (in `image_folder`,
    relative to the page)."""
    curves = result.get("curves")
    if not curves:
        return []
    return [
        "## Cost curves",
        "",
        f"Short runs swept over one dimension each: {curves['point_seconds']:g} s per point "
        f"({curves['mlserver_point_seconds']:g} s for MLServer, about 90 requests/s), against "
        f"{result['seconds_per_setting']:g} s for each row of the table below; points with errors are left "
        f"out. Points: [{CURVES_JSON}]({image_folder}{CURVES_JSON}).",
        "",
        f"![latency per record against batch size]({image_folder}{LATENCY_PNG})",
        "",
        f"![throughput against concurrency]({image_folder}{THROUGHPUT_PNG})",
        "",
    ]


def kept_notes(page: Path) -> str:
    """The hand-written part of an existing page (below the marker), or nothing."""
    if not page.exists():
        return ""
    _, marker, notes = page.read_text().partition(NOTES_MARKER)
    return notes if marker else ""


def is_full_run(result: dict) -> bool:
    """A run that measured everything `make bench` measures: only such a run replaces the page."""
    return bool(result.get("pipeline")) and bool(result.get("etl_memory"))


def _describe_records(records: dict | None) -> list[str]:
    if not records:
        return []
    return [
        "",
        f"Records: {records['source']}, sent as they are: {records['missing_share_single']:.0%} of the "
        f"single records and {records['missing_share_batch']:.0%} of the batch have a missing value, which "
        "the model imputes (our service's fast path replays the imputer exactly).",
    ]


def curves_subtitle(result: dict) -> str:
    """Under each plot's title: what was measured, when, and how long each point ran."""
    curves = result["curves"]
    return (
        f"model version {result['model_version']} ({result.get('family', '?')}), {result['finished_at']}; "
        f"{curves['point_seconds']:g} s per point, MLServer's {curves['mlserver_point_seconds']:g} s"
    )


def save_curves(result: dict, folder: Path) -> dict[str, Path]:
    """curves.json (the points, with the run they belong to) and the two plots into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    context = {key: result.get(key) for key in ("finished_at", "model_version", "family", "machine")}
    path = folder / CURVES_JSON
    path.write_text(json.dumps({**context, **result["curves"]}, indent=2, default=str))
    return {"curves": path, **plot_curves(result["curves"]["points"], folder, curves_subtitle(result))}


def save_report(result: dict, folder: Path, page: Path = PAGE, curves_folder: Path = CURVES_FOLDER) -> dict:
    """Write latest.json (and a timestamped copy), latest.md, and the cost curves (curves.json and their
    plots, when the run measured them); after a full run, also `page` (docs/benchmarks.md), keeping its
    hand-written notes, and the curves into `curves_folder` (docs/benchmarks/). Return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = result["finished_at"].replace(":", "").replace("-", "")
    text = json.dumps(result, indent=2, default=str)
    paths = {
        "json": folder / "latest.json",
        "history": folder / f"bench-{stamp}.json",
        "markdown": folder / "latest.md",
    }
    paths["json"].write_text(text)
    paths["history"].write_text(text)
    paths["markdown"].write_text(render_markdown(result))
    if result.get("curves"):
        paths |= save_curves(result, folder)
    log.info("benchmark report written to %s", folder)
    if is_full_run(result):
        page.write_text(render_page(result, kept_notes(page)))
        paths["page"] = page
        if result.get("curves"):
            paths |= {f"published_{name}": path for name, path in save_curves(result, curves_folder).items()}
        log.info("benchmark page written to %s", page)
    else:
        # A partial run (--no-pipeline, --no-etl, the smoke test) would replace the page with half a report.
        log.info("partial run: %s left as it was; this run's tables are in %s", page, paths["markdown"])
    return {k: str(v) for k, v in paths.items()}
