"""The README's benchmark summary: a few lines on the last full run of `make bench` and its two cost curves,
rewritten by each full run between two marker lines (the README's text around them is left as it is)."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmarks.cases import OURS, REST_SINGLE_C1, REST_SINGLE_C8, V2_GRPC_SINGLE_C8, V2_REST_SINGLE_C8
from benchmarks.plots import LATENCY_PNG, THROUGHPUT_PNG
from benchmarks.report import format_number, format_ratio

log = logging.getLogger(__name__)
README = Path(__file__).resolve().parents[1] / "README.md"
SUMMARY_START = "<!-- make bench writes the summary below this line -->"
SUMMARY_END = "<!-- make bench writes the summary above this line -->"


def readme_summary(result: dict) -> str:
    """The README's few lines on the last full run: the plots, the headline rows and how many targets
    were met, with the page that has the rest."""
    rows = {(r["setting"], r["server"]): r for r in result["rows"]}

    def ours(setting: str, key: str) -> float | None:
        return (rows.get((setting, OURS)) or {}).get(key)

    targets = result["targets"]
    met = sum(t["met"] is True for t in targets)
    return "\n".join(
        [
            f"The last full run ({result['finished_at'][:10]}, model version {result['model_version']} "
            f"({result.get('family', '?')}), {result.get('api_workers', '?')} worker process(es) on "
            f"{result['machine']['logical_cores']} cores): REST 1 record at c=8 "
            f"{format_number(ours(REST_SINGLE_C8, 'rps'))} req/s, "
            f"{format_ratio(ours(REST_SINGLE_C8, 'ratio_vs_mlflow'))} MLflow's scoring server; p50 "
            f"{format_number(ours(REST_SINGLE_C1, 'p50_ms'))} ms at c=1; V2 at c=8 "
            f"{format_ratio(ours(V2_REST_SINGLE_C8, 'ratio_vs_mlserver'))} MLServer over REST and "
            f"{format_ratio(ours(V2_GRPC_SINGLE_C8, 'ratio_vs_mlserver'))} over gRPC. "
            f"{met} of {len(targets)} targets met. Every row, target and how each is measured: "
            "[docs/benchmarks.md](docs/benchmarks.md).",
            "",
            f"![latency per record against batch size](docs/benchmarks/{LATENCY_PNG})",
            f"![throughput against concurrency](docs/benchmarks/{THROUGHPUT_PNG})",
        ]
    )


def update_readme(readme: Path, result: dict) -> bool:
    """Replace the README's summary (between SUMMARY_START and SUMMARY_END) with this run's; False, and
    nothing written, when the README has no such place."""
    text = readme.read_text()
    before, start, rest = text.partition(SUMMARY_START)
    _, end, after = rest.partition(SUMMARY_END)
    if not (start and end):
        log.warning("%s has no benchmark summary markers: not updated", readme)
        return False
    readme.write_text(f"{before}{SUMMARY_START}\n{readme_summary(result)}\n{SUMMARY_END}{after}")
    return True
