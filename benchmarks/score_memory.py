"""`burnout score` on 1,000,000 and 2,000,000 rows (the benchmark's dataset, the real one when it exists, its
data lines repeated), streamed partition by partition as it is now, against the previous whole-file read, side
by side: rows per second and peak memory.

How it is measured: each run is its own process under GNU time (`/usr/bin/time -f %M`), whose figure is the
process's resident set size (RSS) high-water mark, everything included (imports, the model, the input's
bytes): what the machine has to provide. The issue's target: at most 1 GB, and flat as the file grows. Rows
per second count the rows scored over the scoring's own seconds (the summary's, from reading the input to
the last part written; a cold process spends about 8 s more importing and loading the model, given apart).

The previous approach is kept here only (`score_whole_file`): the whole input read into memory
(etl.ingest.read_input), then the ETL's chunk iterator over those bytes, every chunk's predictions gathered
and written as one file, as `burnout score` did before issue 22.

`python -m benchmarks.score_memory` runs this section alone; `make bench` runs it with the ETL's.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer

from benchmarks.champion import ensure_champion
from benchmarks.data import PROJECT_ROOT, resolve_dataset
from benchmarks.servers import child_env
from burnout_base.settings import Settings

log = logging.getLogger(__name__)
ROW_COUNTS = (1_000_000, 2_000_000)
LIMIT_BYTES = 1 << 30  # the bound on the streamed run's peak RSS
GNU_TIME = "/usr/bin/time"
STREAMED, WHOLE_FILE = "streamed (burnout score)", "whole file (before)"


def run_score_memory_bench(settings: Settings, folder: Path, dataset: Path | None = None) -> dict:
    """Measure both approaches on each of ROW_COUNTS (inputs written under `folder`, deleted after)."""
    if not Path(GNU_TIME).is_file():
        raise FileNotFoundError(f"{GNU_TIME} is needed: apt-get install time")
    ensure_champion(settings, folder, dataset)
    work = folder / "score-memory"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path, kind = resolve_dataset(folder, settings.seed, dataset)
    rows = []
    for count in ROW_COUNTS:
        copy = write_rows_copy(path, work / f"{count}.csv", count)
        try:
            rows.append({"rows": count, "approach": STREAMED, **measure(settings, "streamed", copy, work)})
            rows.append(
                {"rows": count, "approach": WHOLE_FILE, **measure(settings, "whole-file", copy, work)}
            )
        finally:
            copy.unlink(missing_ok=True)
            shutil.rmtree(work / "out", ignore_errors=True)
    log.info("batch scoring time and peak memory:\n%s", format_table(rows))
    return {"dataset": f"{kind}: {path}", "limit_bytes": LIMIT_BYTES, "rows": rows}


def write_rows_copy(source: Path, target: Path, rows: int) -> Path:
    """`source`'s header, then its data lines repeated until there are exactly `rows` of them."""
    with open(source, "rb") as src:
        header = src.readline()
        lines = src.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    body = b"".join(lines)
    whole, rest = divmod(rows, len(lines))
    with open(target, "wb") as out:
        out.write(header)
        for _ in range(whole):
            out.write(body)
        out.write(b"".join(lines[:rest]))
    return target


def measure(settings: Settings, approach: str, csv: Path, work: Path) -> dict:
    """One run of `approach` on `csv` in a fresh process under GNU time: peak RSS, seconds, rows/s."""
    output = work / "out" / f"{approach}.parquet"
    shutil.rmtree(output, ignore_errors=True)
    output.unlink(missing_ok=True)
    if approach == "streamed":
        command = [str(Path(sys.executable).parent / "burnout"), "score", "--input", str(csv)]
    else:
        command = [sys.executable, "-m", "benchmarks.score_memory", "--whole-file", str(csv)]
    peak_file = work / "peak-kb"
    env = child_env(settings)
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # benchmarks/ is importable from the project root only
    started = time.monotonic()
    done = subprocess.run(
        [GNU_TIME, "-f", "%M", "-o", str(peak_file), *command, "--output", str(output)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{approach} scoring failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    peak = int(peak_file.read_text().split()[-1]) * 1024
    return {
        "input_bytes": csv.stat().st_size,
        "rows_scored": summary["rows_scored"],
        "peak_bytes": peak,
        "scoring_s": summary["seconds"],
        "process_s": round(wall, 1),
        "rows_per_s": round(summary["rows_scored"] / summary["seconds"]),
        "partitions": summary.get("partitions", 1),
    }


def score_whole_file(settings: Settings, input: str, output: str) -> dict:
    """The previous `burnout score`: the whole input in memory, chunks over its bytes, one output file."""
    import pandas as pd

    from etl.ingest import read_input
    from etl.parse_csv import iter_chunks, read_header
    from etl.validate import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES
    from monitoring.batch_score import load_scorer, resolve_scoring_model, score_chunk
    from monitoring.score_input import validate_text
    from monitoring.score_output import write_table

    started = time.monotonic()
    data, _ = read_input(settings, input)
    model = resolve_scoring_model(settings)
    scorer = load_scorer(settings, model)
    header = read_header(data)
    chunk_bytes = min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, len(data) // 8))
    predictions = []
    for chunk in iter_chunks(data, header, chunk_bytes):
        checked = validate_text(chunk.frame, chunk.malformed, chunk.blank_lines)
        predictions.append(score_chunk(scorer, checked, model["model_version"]))
    scored = pd.concat(predictions, ignore_index=True)
    write_table(settings, output, scored)
    return {"rows_scored": len(scored), "seconds": round(time.monotonic() - started, 3)}


def format_table(rows: list[dict]) -> str:
    """One line per size and approach."""
    lines = [f"{'rows':>10}  {'approach':<26}{'input MB':>9}{'peak MB':>9}{'rows/s':>9}{'scoring s':>10}"]
    for r in rows:
        lines.append(
            f"{r['rows']:>10}  {r['approach']:<26}{r['input_bytes'] / 1e6:>9.0f}{r['peak_bytes'] / 1e6:>9.0f}"
            f"{r['rows_per_s']:>9}{r['scoring_s']:>10.1f}"
        )
    return "\n".join(lines)


def score_memory_targets(figures: dict) -> list[dict]:
    """The issue's bound (streamed peak RSS <= 1 GB at 2 M rows, flat as the file grows) as targets, with the
    rows per second and the previous approach in the note."""
    by = {(r["rows"], r["approach"]): r for r in figures["rows"]}
    big, small = max(ROW_COUNTS), min(ROW_COUNTS)
    streamed, before = by[(big, STREAMED)], by[(big, WHOLE_FILE)]
    growth = streamed["peak_bytes"] / by[(small, STREAMED)]["peak_bytes"]
    return [
        {
            "target": f"`burnout score` peak RSS, {big:,} rows",
            "measured": round(streamed["peak_bytes"] / 1e6),
            "goal": f"<= {LIMIT_BYTES / 1e6:.0f} MB",
            "met": streamed["peak_bytes"] <= figures["limit_bytes"],
            "note": f"{streamed['rows_per_s']:,} rows/s; the whole-file read: "
            f"{before['peak_bytes'] / 1e6:.0f} MB, {before['rows_per_s']:,} rows/s",
        },
        {
            "target": f"`burnout score` peak RSS, {big:,} / {small:,} rows",
            "measured": round(growth, 2),
            "goal": "flat (<= 1.1x)",
            "met": math.isfinite(growth) and growth <= 1.1,
            "note": f"{by[(small, STREAMED)]['peak_bytes'] / 1e6:.0f} MB at {small:,} rows",
        },
    ]


def main(argv: list[str]) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from burnout_base.settings import get_settings

    settings = get_settings()
    if argv[:1] == ["--whole-file"]:  # the child of `measure`: <input> --output <output>
        typer.echo(json.dumps(score_whole_file(settings, argv[1], argv[3])))
        return
    settings.ensure_home()
    typer.echo(json.dumps(run_score_memory_bench(settings, settings.home / "bench"), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
