"""The benchmark's settings (cases), which measurement of a baseline server (MLflow's scoring server,
MLServer) each one is compared with, and the issues' targets checked against a run's rows."""

from __future__ import annotations

import math

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

V2_CEILING_SHARE = 0.7
V2_MLSERVER_FACTOR = 20.0

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


def _serving_targets(rows: list[dict]) -> list[dict]:
    """Throughput and latency targets of issues 8 and 16 (MLflow, our gRPC, MLServer, the ceiling)."""
    one = _clean_row(rows, REST_SINGLE_C1, OURS)
    p50 = one["p50_ms"] if one is not None else None
    batch = _ratio(rows, "p50_ms", (REST_BATCH_C1, OURS), (REST_BATCH_C1, MLFLOW))
    v2_batch = _ratio(rows, "p50_ms", (V2_REST_BATCH_C1, OURS), (V2_REST_BATCH_C1, MLSERVER))
    v2_grpc = (V2_GRPC_SINGLE_C8, OURS)
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
            1,
            ">= 1x",
        ),
        _target(
            "REST 1,000 records: p50 latency vs MLflow",
            batch,
            "< 1/3 (0.333)",
            None if batch is None else batch < 1 / 3,
        ),
        _at_least(
            "V2 REST 1 record c=8: throughput vs MLServer",
            _ratio(rows, "rps", (V2_REST_SINGLE_C8, OURS), (V2_REST_SINGLE_C8, MLSERVER)),
            V2_MLSERVER_FACTOR,
            f">= {V2_MLSERVER_FACTOR:g}x",
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
            V2_MLSERVER_FACTOR,
            f">= {V2_MLSERVER_FACTOR:g}x",
        ),
        _at_least(
            "V2 gRPC 1 record c=8: throughput vs our REST c=8",
            _ratio(rows, "rps", v2_grpc, (REST_SINGLE_C8, OURS)),
            1,
            ">= 1x",
            _v2_rest_note(rows),
        ),
        _at_least(
            "REST 1 record c=8: throughput vs the fixed-response ceiling",
            _ratio(rows, "rps", (REST_SINGLE_C8, OURS), (CEILING_REST_C8, CEILING)),
            V2_CEILING_SHARE,
            f">= {V2_CEILING_SHARE:.0%}",
        ),
    ]


def _v2_rest_note(rows: list[dict]) -> str:
    ratio = _ratio(rows, "rps", (V2_GRPC_SINGLE_C8, OURS), (V2_REST_SINGLE_C8, OURS))
    return "" if ratio is None else f"vs our V2 REST c=8: {ratio:.2f}x"


def evaluate_targets(rows: list[dict], pipeline: dict | None) -> list[dict]:
    """Check the issues' targets; a target whose inputs are missing or had errors is `met: None`, not a
    pass."""

    targets = _serving_targets(rows)
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
