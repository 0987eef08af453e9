"""The benchmark's settings (cases), which MLflow measurement each one is compared with, and the issue's
targets checked against a run's rows."""

from __future__ import annotations

import math

REST_SINGLE_C1 = "REST 1 record, c=1"
REST_SINGLE_C8 = "REST 1 record, c=8"
REST_BATCH_C1 = "REST 1,000 records, c=1"
GRPC_UNARY_C8 = "gRPC 1 record, c=8"
GRPC_STREAM_W8 = "gRPC stream 1 record, 8 in flight"
REST_SINGLE_C8_LOG_ON = "REST 1 record, c=8, prediction log on"
REST_SINGLE_C8_LOG_OFF = "REST 1 record, c=8, prediction log off"
INPROC_1 = "in-process 1 row"
INPROC_1000 = "in-process 1,000 rows"
INPROC_EXPLAIN_1 = "in-process 1 record, core + JSON, LightGBM"
OURS, MLFLOW = "ours", "mlflow"
PIPELINE, FAST_PATH = "pipeline", "fast path"  # the in-process references
EXPLAIN, NO_EXPLAIN = "ours, explain", "ours, no explain"
EXPLAIN_LIMIT_MS = 10.0  # single-digit milliseconds
BATCH_ROWS = 1000

# Throughput ratios compare with MLflow's server doing the same work at the same concurrency.
BASELINES: dict[str, str] = {
    REST_SINGLE_C1: REST_SINGLE_C1,
    REST_SINGLE_C8: REST_SINGLE_C8,
    REST_BATCH_C1: REST_BATCH_C1,
    GRPC_UNARY_C8: REST_SINGLE_C8,
    GRPC_STREAM_W8: REST_SINGLE_C8,
    INPROC_1: REST_SINGLE_C1,
    INPROC_1000: REST_BATCH_C1,
}
PIPELINE_LIMIT_S = 600.0


def find_row(rows: list[dict], setting: str, server: str) -> dict | None:
    return next((r for r in rows if r["setting"] == setting and r["server"] == server), None)


def add_ratios(rows: list[dict]) -> list[dict]:
    """Set each row's `ratio_vs_mlflow` (its req/s over MLflow's on the baseline case; None without one)."""
    for row in rows:
        base = find_row(rows, BASELINES.get(row["setting"], ""), MLFLOW)
        ok = base is not None and base["rps"] > 0 and not base["errors"]
        row["ratio_vs_mlflow"] = row["rps"] / base["rps"] if ok else None
        row["ratio_baseline"] = f"{MLFLOW}: {BASELINES[row['setting']]}" if ok else None
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


def evaluate_targets(rows: list[dict], pipeline: dict | None) -> list[dict]:
    """Check the issue's targets; a target whose inputs are missing or had errors is `met: None`, not a
    pass."""

    def clean(*pairs: tuple[str, str]) -> list[dict] | None:
        found = [find_row(rows, s, srv) for s, srv in pairs]
        return found if all(r is not None and not r["errors"] for r in found) else None

    targets = []
    pair = clean((REST_SINGLE_C8, OURS), (REST_SINGLE_C8, MLFLOW))
    ratio = pair[0]["rps"] / pair[1]["rps"] if pair and pair[1]["rps"] > 0 else None
    targets.append(
        _target(
            "REST 1 record c=8: throughput vs MLflow", ratio, ">= 10x", None if ratio is None else ratio >= 10
        )
    )
    one = clean((REST_SINGLE_C1, OURS))
    p50 = one[0]["p50_ms"] if one else None
    targets.append(_target("REST 1 record c=1: p50 ms", p50, "< 2 ms", None if p50 is None else p50 < 2))
    grpc = clean((GRPC_UNARY_C8, OURS), (REST_SINGLE_C8, OURS))
    ratio = grpc[0]["rps"] / grpc[1]["rps"] if grpc and grpc[1]["rps"] > 0 else None
    targets.append(
        _target(
            "gRPC 1 record c=8: throughput vs our REST c=8",
            ratio,
            ">= 1x",
            None if ratio is None else ratio >= 1,
        )
    )
    logged = clean((REST_SINGLE_C8_LOG_ON, OURS), (REST_SINGLE_C8_LOG_OFF, OURS))
    ratio = logged[0]["rps"] / logged[1]["rps"] if logged and logged[1]["rps"] > 0 else None
    targets.append(
        _target(
            "prediction log: REST 1 record c=8 throughput, log on vs off",
            ratio,
            ">= 0.9 (costs under 10 %)",
            None if ratio is None else ratio >= 0.9,
            _cpu_per_request_note(*logged) if logged else "",
        )
    )
    explained = clean((INPROC_EXPLAIN_1, EXPLAIN), (INPROC_EXPLAIN_1, NO_EXPLAIN))
    if explained is not None:  # measured only when the registry has a LightGBM
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
    batch = clean((REST_BATCH_C1, OURS), (REST_BATCH_C1, MLFLOW))
    ratio = batch[0]["p50_ms"] / batch[1]["p50_ms"] if batch and batch[1]["p50_ms"] > 0 else None
    targets.append(
        _target(
            "REST 1,000 records: p50 latency vs MLflow",
            ratio,
            "< 1/3 (0.333)",
            None if ratio is None else ratio < 1 / 3,
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
