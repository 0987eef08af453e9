"""The benchmark's settings (cases), which measurement of a baseline server (MLflow's scoring server,
MLServer) each one is compared with, and the issues' targets checked against a run's rows."""

from __future__ import annotations

import math
import re

REST_SINGLE_C1 = "REST 1 record, c=1"
REST_SINGLE_C8 = "REST 1 record, c=8"
REST_BATCH_C1 = "REST 1,000 records, c=1"
GRPC_UNARY_C8 = "gRPC 1 record, c=8"  # h2load, a load generator as lean as wrk
GRPC_UNARY_C8_PYTHON = "gRPC 1 record, c=8, Python client"  # grpc.aio in the bench process
GRPC_STREAM_W8 = "gRPC stream 1 record, 8 in flight"
V2_REST_SINGLE_C1 = "V2 REST 1 record, c=1"
V2_REST_SINGLE_C8 = "V2 REST 1 record, c=8"
V2_REST_BATCH_C1 = "V2 REST 1,000 records, c=1"
V2_GRPC_SINGLE_C1 = "V2 gRPC 1 record, c=1"
V2_GRPC_SINGLE_C8 = "V2 gRPC 1 record, c=8"
V2_GRPC_BATCH_C1 = "V2 gRPC 1,000 records, c=1"
CEILING_REST_C8 = "REST fixed response ceiling, c=8"
CEILING_GRPC_C8 = "gRPC fixed response ceiling, c=8"
REST_SINGLE_C8_LOG_ON = "REST 1 record, c=8, prediction log on"
REST_SINGLE_C8_LOG_OFF = "REST 1 record, c=8, prediction log off"
REST_SINGLE_C8_BALANCED = "REST 1 record, c=8, through the balancer"
REST_SINGLE_C8_DIRECT = "REST 1 record, c=8, straight to the replica"
INPROC_1 = "in-process 1 row"
INPROC_1000 = "in-process 1,000 rows"
INPROC_EXPLAIN_1 = "in-process 1 record, core + JSON, LightGBM"
OURS, MLFLOW, MLSERVER = "ours", "mlflow", "mlserver"
CEILING = "ours, fixed answer"  # the same server stack without the model: benchmarks/ceiling_server.py
PIPELINE, FAST_PATH = "pipeline", "fast path"  # the in-process references
EXPLAIN, NO_EXPLAIN = "ours, explain", "ours, no explain"
EXPLAIN_LIMIT_MS = 10.0  # single-digit milliseconds
BATCH_ROWS = 1000

# Issue 25's goals (serving at the model's floor); each target below quotes its own.
CEILING_SHARE_PER_WORKER = 0.5
MLSERVER_FACTOR = 30.0
GRPC_VS_REST = 0.9
BATCH_P50_LIMIT_MS = 6.0
WORKERS_SPEEDUP = 1.6
COMPILED_SPEEDUP = 4.0
# benchmarks/inprocess.py's rows for a LightGBM: the model alone on the same preprocessed 1,000 rows, through
# LightGBM's predict and through the compiled trees, one thread each.
LIGHTGBM_PREDICT, COMPILED_TREES = "LightGBM predict, 1 thread", "compiled trees, 1 thread"
# Rows of benchmarks/worker_scaling.py: our service with N workers, REST 1 record at c=16.
WORKER_SCALING_SETTING = re.compile(r"^REST 1 record, c=16, (\d+) workers?$")

# Throughput ratios compare with a baseline server doing the same work at the same concurrency: per baseline,
# the setting each of ours is compared with. MLflow has no gRPC (ours is compared with its REST c=8);
# MLServer speaks V2 on both protocols, so V2 is compared protocol against protocol.
BASELINES: dict[str, dict[str, str]] = {
    MLFLOW: {
        REST_SINGLE_C1: REST_SINGLE_C1,
        REST_SINGLE_C8: REST_SINGLE_C8,
        REST_BATCH_C1: REST_BATCH_C1,
        GRPC_UNARY_C8: REST_SINGLE_C8,
        GRPC_UNARY_C8_PYTHON: REST_SINGLE_C8,
        GRPC_STREAM_W8: REST_SINGLE_C8,
        INPROC_1: REST_SINGLE_C1,
        INPROC_1000: REST_BATCH_C1,
    },
    MLSERVER: {
        setting: setting
        for setting in (
            V2_REST_SINGLE_C1,
            V2_REST_SINGLE_C8,
            V2_REST_BATCH_C1,
            V2_GRPC_SINGLE_C1,
            V2_GRPC_SINGLE_C8,
            V2_GRPC_BATCH_C1,
        )
    },
}
PIPELINE_LIMIT_S = 600.0


def find_row(rows: list[dict], setting: str, server: str) -> dict | None:
    return next((r for r in rows if r["setting"] == setting and r["server"] == server), None)


def add_ratios(rows: list[dict]) -> list[dict]:
    """Set each row's `ratio_vs_<baseline>` for every baseline server (its req/s over that server's on the
    compared setting; None without a clean one) and `ratio_baselines` (what each ratio compares with)."""
    for row in rows:
        row["ratio_baselines"] = {}
        for baseline, compared in BASELINES.items():
            base = find_row(rows, compared.get(row["setting"], ""), baseline)
            ok = base is not None and base["rps"] > 0 and not base["errors"]
            row[f"ratio_vs_{baseline}"] = row["rps"] / base["rps"] if ok else None
            if ok:
                row["ratio_baselines"][baseline] = compared[row["setting"]]
    return rows


def _target(name: str, measured: float | None, goal: str, met: bool | None, note: str = "") -> dict:
    return {"target": name, "measured": measured, "goal": goal, "met": met, "note": note}


def _cpu_per_request_note(on: dict, off: dict) -> str:
    """Server CPU per request, log on over log off: what the log costs even when a busy machine starves the
    server (then throughput measures the neighbours as much as the log)."""
    try:
        ratio = (on["cpu_percent"] / on["rps"]) / (off["cpu_percent"] / off["rps"])
    except (KeyError, TypeError, ZeroDivisionError):
        return ""
    return f"server CPU per request: {ratio:.3f}x the log off's"


def _clean_row(rows: list[dict], setting: str, server: str) -> dict | None:
    """The row of (setting, server) when it was measured without errors."""
    row = find_row(rows, setting, server)
    return row if row is not None and not row["errors"] else None


def _ratio(rows: list[dict], key: str, mine: tuple[str, str], other: tuple[str, str]) -> float | None:
    """`mine`'s `key` over `other`'s, both (setting, server) rows measured without errors; else None."""
    first, second = _clean_row(rows, *mine), _clean_row(rows, *other)
    if first is None or second is None or not second[key] > 0:
        return None
    return first[key] / second[key]


def _at_least(name: str, ratio: float | None, bound: float, goal: str, note: str = "") -> dict:
    return _target(name, ratio, goal, None if ratio is None else ratio >= bound, note)


def _serving_targets(rows: list[dict], workers: int | None) -> list[dict]:
    """Throughput and latency targets of issues 8, 16 and 25 (MLflow, our gRPC, MLServer, the ceiling);
    `workers`: our service's worker processes (MLServer had as many inference workers), None when unknown."""
    one = _clean_row(rows, REST_SINGLE_C1, OURS)
    p50 = one["p50_ms"] if one is not None else None
    batch = _ratio(rows, "p50_ms", (REST_BATCH_C1, OURS), (REST_BATCH_C1, MLFLOW))
    batch_row = _clean_row(rows, REST_BATCH_C1, OURS)
    batch_p50 = batch_row["p50_ms"] if batch_row is not None else None
    v2_batch = _ratio(rows, "p50_ms", (V2_REST_BATCH_C1, OURS), (V2_REST_BATCH_C1, MLSERVER))
    v2_grpc = (V2_GRPC_SINGLE_C8, OURS)
    same_workers = "" if workers is None else f"{workers} inference worker(s) each"
    return [
        _at_least(
            "REST 1 record c=8: throughput vs MLflow",
            _ratio(rows, "rps", (REST_SINGLE_C8, OURS), (REST_SINGLE_C8, MLFLOW)),
            10,
            ">= 10x",
        ),
        _target("REST 1 record c=1: p50 ms", p50, "< 2 ms", None if p50 is None else p50 < 2),
        _at_least(
            "gRPC 1 record c=8: throughput vs our REST c=8",
            _ratio(rows, "rps", (GRPC_UNARY_C8, OURS), (REST_SINGLE_C8, OURS)),
            GRPC_VS_REST,
            f">= {GRPC_VS_REST:g}x",
        ),
        _at_least(
            "gRPC fixed-response ceiling c=8 vs the REST one",
            _ratio(rows, "rps", (CEILING_GRPC_C8, CEILING), (CEILING_REST_C8, CEILING)),
            GRPC_VS_REST,
            f">= {GRPC_VS_REST:g}x (raised to match)",
        ),
        _target(
            "REST 1,000 records: p50 latency vs MLflow",
            batch,
            "< 1/3 (0.333)",
            None if batch is None else batch < 1 / 3,
        ),
        _target(
            "REST 1,000 records c=1: p50 ms",
            batch_p50,
            f"<= {BATCH_P50_LIMIT_MS:g} ms",
            None if batch_p50 is None else batch_p50 <= BATCH_P50_LIMIT_MS,
        ),
        _at_least(
            "V2 REST 1 record c=8: throughput vs MLServer",
            _ratio(rows, "rps", (V2_REST_SINGLE_C8, OURS), (V2_REST_SINGLE_C8, MLSERVER)),
            MLSERVER_FACTOR,
            f">= {MLSERVER_FACTOR:g}x",
            same_workers,
        ),
        _target(
            "V2 REST 1,000 records: p50 latency vs MLServer",
            v2_batch,
            "<= 1/3 (0.333)",
            None if v2_batch is None else v2_batch <= 1 / 3,
        ),
        _at_least(
            "V2 gRPC 1 record c=8: throughput vs MLServer",
            _ratio(rows, "rps", v2_grpc, (V2_GRPC_SINGLE_C8, MLSERVER)),
            MLSERVER_FACTOR,
            f">= {MLSERVER_FACTOR:g}x",
            same_workers,
        ),
        _at_least(
            "V2 gRPC 1 record c=8: throughput vs our REST c=8",
            _ratio(rows, "rps", v2_grpc, (REST_SINGLE_C8, OURS)),
            GRPC_VS_REST,
            f">= {GRPC_VS_REST:g}x",
            _v2_rest_note(rows),
        ),
        _ceiling_per_worker(rows, workers),
    ]


def _ceiling_per_worker(rows: list[dict], workers: int | None) -> dict:
    """Our REST c=8 per worker process over the fixed-response ceiling's (one process,
    benchmarks/ceiling_server.py): what the model and our code leave of the stack's own throughput."""
    ratio = _ratio(rows, "rps", (REST_SINGLE_C8, OURS), (CEILING_REST_C8, CEILING))
    per_worker = None if ratio is None or workers is None else ratio / workers
    note = "" if workers is None else f"{workers} worker(s) against the ceiling's one process"
    return _at_least(
        "REST 1 record c=8 per worker: throughput vs the fixed-response ceiling",
        per_worker,
        CEILING_SHARE_PER_WORKER,
        f">= {CEILING_SHARE_PER_WORKER:.0%}",
        note,
    )


def _scaling_targets(rows: list[dict]) -> list[dict]:
    """Issue 25's rows that other sections add: API workers (benchmarks/worker_scaling.py) and compiled
    trees in process (benchmarks/inprocess.py); `met: None` (not measured) while a row is missing."""
    scaled = {}
    for row in rows:
        found = WORKER_SCALING_SETTING.match(row["setting"])
        if found and row["server"] == OURS and not row["errors"]:
            scaled[int(found.group(1))] = row
    most = max(scaled, default=None)
    speedup = None
    if 1 in scaled and most is not None and most > 1 and scaled[1]["rps"] > 0:
        speedup = scaled[most]["rps"] / scaled[1]["rps"]
    return [
        _at_least(
            "API workers: REST 1 record c=16 throughput, workers = CPUs vs 1 worker",
            speedup,
            WORKERS_SPEEDUP,
            f">= {WORKERS_SPEEDUP:g}x on 2 cores",
            "" if speedup is None else f"{most} workers",
        ),
        _at_least(
            "in process 1,000 rows: compiled trees vs LightGBM (throughput)",
            _ratio(rows, "rps", (INPROC_1000, COMPILED_TREES), (INPROC_1000, LIGHTGBM_PREDICT)),
            COMPILED_SPEEDUP,
            f">= {COMPILED_SPEEDUP:g}x",
        ),
    ]


def _v2_rest_note(rows: list[dict]) -> str:
    ratio = _ratio(rows, "rps", (V2_GRPC_SINGLE_C8, OURS), (V2_REST_SINGLE_C8, OURS))
    return "" if ratio is None else f"vs our V2 REST c=8: {ratio:.2f}x"


def evaluate_targets(rows: list[dict], pipeline: dict | None, workers: int | None = None) -> list[dict]:
    """Check the issues' targets; a target whose inputs are missing or had errors is `met: None`, not a
    pass. `workers`: our service's worker processes in the serving rows (None: unknown)."""

    targets = _serving_targets(rows, workers) + _scaling_targets(rows)
    on, off = (REST_SINGLE_C8_LOG_ON, OURS), (REST_SINGLE_C8_LOG_OFF, OURS)
    ratio = _ratio(rows, "rps", on, off)
    note = "" if ratio is None else _cpu_per_request_note(_clean_row(rows, *on), _clean_row(rows, *off))
    targets.append(
        _at_least(
            "prediction log: REST 1 record c=8 throughput, log on vs off",
            ratio,
            0.9,
            ">= 0.9 (costs under 10 %)",
            note,
        )
    )
    targets.append(
        _at_least(
            "load balancer: REST 1 record c=8 throughput, through HAProxy vs straight",
            _ratio(rows, "rps", (REST_SINGLE_C8_BALANCED, OURS), (REST_SINGLE_C8_DIRECT, OURS)),
            0.85,
            ">= 0.85 (costs under 15 %)",
        )
    )
    explained = [_clean_row(rows, INPROC_EXPLAIN_1, server) for server in (EXPLAIN, NO_EXPLAIN)]
    if None not in explained:  # measured only when the registry has a LightGBM
        p50, p99 = explained[0]["p50_ms"], explained[0]["p99_ms"]
        targets.append(
            _target(
                "explain 1 record in process (LightGBM, TreeSHAP): p50 ms",
                p50,
                f"< {EXPLAIN_LIMIT_MS:g} ms",
                p50 < EXPLAIN_LIMIT_MS,
                f"p99 {p99:.2f} ms; without explain p50 {explained[1]['p50_ms']:.3f} ms",
            )
        )
    if pipeline is not None:
        seconds = pipeline.get("end_to_end_s")
        real = pipeline.get("data") == "real"
        met = (
            None
            if seconds is None or (isinstance(seconds, float) and math.isnan(seconds))
            else (seconds < PIPELINE_LIMIT_S)
        )
        note = "" if real else f"{pipeline.get('data')} data: the target is defined on the real dataset"
        if not pipeline.get("default_budget", False):
            note = (note + "; " if note else "") + "not the default tuning budget"
        targets.append(_target("pipeline end to end (s)", seconds, f"< {PIPELINE_LIMIT_S:.0f} s", met, note))
    return targets
