"""What shadow scoring costs the served path (issue 24): two services on the same registry, both logging their
answers into a throwaway local lake, one with shadow scoring off and one scoring every request again with
another alias (fraction 1.0). The saturated throughput of REST single records (closed loop, wrk, c=8, on the
shadow-off service) sets the rate; then open-loop load at half of it, in alternating rounds (off, on, on, off,
...), so that the machine's drift falls on both. Per mode: the medians over rounds of the served path's p50
and p99 latency (from each request's due time), the server's CPU seconds per request (its process tree, until
the shadow queue and the prediction log have drained, so the shadow's deferred work is counted), and the
shadow records scored and dropped (its /metrics)."""

from __future__ import annotations

import logging
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from benchmarks import cases
from benchmarks.cpu import snapshot_tree_cpu
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import summarize_latencies
from benchmarks.open_loop import run_open_loop
from benchmarks.prediction_log_cost import PREDICT_PATH, remove_throwaway_log_lake, throwaway_log_lake
from benchmarks.records import service_body, single_record_bodies
from benchmarks.servers import Server, service_metric_totals, start_service, stop_server
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

log = logging.getLogger(__name__)
OFF, ON = "off", "on"
ROUNDS = 3  # per mode, alternating: off, on, on, off, off, on
LOAD_SHARE = 0.5  # of the saturated throughput: saturation would only measure a halved rate
SHADOW_FRACTION = 1.0
SATURATION_CONNECTIONS = 8
GROWTH_LIMIT = 1.10  # on over off: the served path's latency grows by under 10 %
# Both services write their log every second (default 10 s), so that each round's writes, the shadow rows
# included, happen within the round's CPU window, which ends once both queues are empty.
LOG_FLUSH_S = 1.0
DRAIN_TIMEOUT_S = 30.0
SCORED = "burnout_shadow_records_total"
DROPPED = "burnout_shadow_dropped_records_total"
SHADOW_QUEUE = "burnout_shadow_queue_records"
LOG_QUEUE = "burnout_prediction_log_queue_rows"
ERRORS = "burnout_predict_errors_total"


def registry_aliases(settings: Settings) -> dict[str, dict]:
    """{alias: {"version", "family"}} of the registered model (empty when it does not exist)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from burnout_base.tracking import configure_mlflow
    from modeling.registry_names import FAMILY_TAG

    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    try:
        model = client.get_registered_model(settings.registered_model_name)
    except MlflowException:
        return {}
    described = {}
    for alias, version in model.aliases.items():
        tags = client.get_model_version(settings.registered_model_name, str(version)).tags or {}
        described[alias] = {"version": int(version), "family": tags.get(FAMILY_TAG)}
    return described


def pick_shadow_alias(aliases: dict[str, dict]) -> str | None:
    """The alias to score in shadow: the challenger (what shadow scoring is for) when it is on another
    version than the champion, else the first other alias on another version; None without one."""
    from modeling.registry_names import CHALLENGER, CHAMPION

    champion = aliases.get(CHAMPION)
    if champion is None:
        return None
    others = sorted(a for a, d in aliases.items() if a != CHAMPION and d["version"] != champion["version"])
    return CHALLENGER if CHALLENGER in others else next(iter(others), None)


def measure_shadow_cost(
    settings: Settings,
    records: pd.DataFrame,
    seconds: float,
    warmup_s: float,
    workdir: Path,
    rounds: int = ROUNDS,
    saturation_s: float | None = None,
) -> dict:
    """The figures of `describe_shadow_cost`: each mode measured over `seconds` in all (`rounds` open-loop
    runs of `seconds / rounds`), after a closed-loop saturation run of `saturation_s` (default
    `seconds / 4`, 1 s at least). {"skipped": why} when the registry has no alias to shadow."""
    from modeling.registry_names import CHAMPION

    aliases = registry_aliases(settings)
    shadow = pick_shadow_alias(aliases)
    if shadow is None:
        log.warning("shadow cost not measured: no alias on another version than the champion's")
        return {"skipped": "the registry has no alias on another version than the champion's"}
    bodies = write_load_files(workdir, "ours_single", single_record_bodies(records, service_body))
    servers: dict[str, Server] = {}
    try:
        servers.update(start_services(settings, workdir, shadow))
        saturation = measure_http(
            cases.REST_SINGLE_C8,
            cases.OURS,
            servers[OFF].pid,
            servers[OFF].url + PREDICT_PATH,
            bodies,
            SATURATION_CONNECTIONS,
            saturation_s or max(1.0, seconds / 4),
            warmup_s,
            1,
        )
        rate = LOAD_SHARE * saturation.rps
        log.info("shadow cost: saturated at %.0f req/s, open loop at %.0f req/s", saturation.rps, rate)
        if warmup_s > 0:
            for server in servers.values():
                run_open_loop(server.url + PREDICT_PATH, bodies, rate, warmup_s)
                wait_drained(server)
        measured = []
        for round_ in range(rounds):
            for mode in (OFF, ON) if round_ % 2 == 0 else (ON, OFF):
                measured.append(measure_round(servers[mode], mode, round_, bodies, rate, seconds / rounds))
        return summarize_shadow_cost(
            measured,
            saturated_rps=saturation.rps,
            saturation_errors=saturation.errors,
            rate_rps=rate,
            round_s=seconds / rounds,
            champion=aliases[CHAMPION],
            shadow={"alias": shadow, **aliases[shadow]},
        )
    finally:
        for server in servers.values():
            stop_server(server)
        remove_throwaway_log_lake(workdir)


def start_services(settings: Settings, workdir: Path, shadow: str) -> dict[str, Server]:
    """The two services, started side by side (each loads every alias): shadow off, and `shadow` scored at
    SHADOW_FRACTION; both log into the throwaway lake. If one fails to start, the other is stopped."""

    def start(mode: str) -> Server:
        return start_service(
            settings,
            free_port(),
            free_port(),
            workdir / "logs",
            name=f"service-shadow-{mode}",
            prediction_log_enabled=True,
            prediction_log_flush_s=LOG_FLUSH_S,
            shadow_alias=shadow if mode == ON else "",
            shadow_fraction=SHADOW_FRACTION,
            **throwaway_log_lake(workdir),
        )

    with ThreadPoolExecutor(2) as pool:
        futures = {mode: pool.submit(start, mode) for mode in (OFF, ON)}
    started, failure = {}, None
    for mode, future in futures.items():
        try:
            started[mode] = future.result()
        except Exception as exc:  # noqa: BLE001 (raised below, once the other one is stopped)
            failure = failure or exc
    if failure is not None:
        for server in started.values():
            stop_server(server)
        raise failure
    return started


def wait_drained(server: Server, timeout: float = DRAIN_TIMEOUT_S) -> float:
    """Wait until the service's shadow queue and prediction log queue are empty; the seconds waited."""
    started, httpx_log = time.monotonic(), logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(max(level, logging.WARNING))  # not a line per poll
    try:
        while time.monotonic() - started < timeout:
            queued = service_metric_totals(server, SHADOW_QUEUE, LOG_QUEUE)
            if not any(queued.values()):
                return time.monotonic() - started
            time.sleep(0.1)
    finally:
        httpx_log.setLevel(level)
    log.warning("%s still had queued work after %.0f s: %s", server.name, timeout, queued)
    return time.monotonic() - started


def measure_round(server: Server, mode: str, round_: int, bodies: Path, rate: float, seconds: float) -> dict:
    """One open-loop run on `server` and the shadow work it queued, drained: latencies of the served path,
    the server's CPU over the load and until drained, the shadow records scored and dropped, the errors."""
    names = (SCORED, DROPPED, ERRORS)
    counts, cpu_before = service_metric_totals(server, *names), snapshot_tree_cpu(server.pid)
    started = time.monotonic()
    result = run_open_loop(server.url + PREDICT_PATH, bodies, rate, seconds)
    load_wall, cpu_loaded = time.monotonic() - started, snapshot_tree_cpu(server.pid)
    drain_s = wait_drained(server)
    cpu_after, after = snapshot_tree_cpu(server.pid), service_metric_totals(server, *names)
    served = summarize_latencies(f"shadow {mode}", cases.OURS, result.latencies_s, result.seconds)
    sent = served.requests + result.errors
    figures = {
        "mode": mode,
        "round": round_,
        "requests": served.requests,
        "errors": result.errors + int(after[ERRORS] - counts[ERRORS]),
        "first_error": result.first_error,
        "achieved_rps": served.rps,
        "p50_ms": served.p50_ms,
        "p99_ms": served.p99_ms,
        "mean_ms": served.mean_ms,
        "server_cpu_percent": 100.0 * _cpu_seconds(cpu_before, cpu_loaded) / load_wall,
        "server_cpu_ms_per_request": 1e3 * _cpu_seconds(cpu_before, cpu_after) / max(1, sent),
        "client_cpu_percent": 100.0 * result.client_cpu_s / load_wall,
        "drain_s": drain_s,
        "shadow_scored": int(after[SCORED] - counts[SCORED]),
        "shadow_dropped": int(after[DROPPED] - counts[DROPPED]),
    }
    log.info(
        "shadow %s, round %d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, server CPU %.2f ms/request, "
        "shadow scored %d dropped %d, errors %d",
        mode,
        round_,
        figures["achieved_rps"],
        figures["p50_ms"],
        figures["p99_ms"],
        figures["server_cpu_ms_per_request"],
        figures["shadow_scored"],
        figures["shadow_dropped"],
        figures["errors"],
    )
    return figures


def _cpu_seconds(start: dict[int, float], end: dict[int, float]) -> float:
    return sum(max(0.0, seconds - start.get(pid, 0.0)) for pid, seconds in end.items())


def summarize_shadow_cost(rounds: list[dict], **context) -> dict:
    """Per mode, the medians over its rounds (latency, CPU) and the totals (requests, errors, shadow records);
    the ratios on over off of the medians."""
    modes = {}
    for mode in (OFF, ON):
        mine = [r for r in rounds if r["mode"] == mode]
        modes[mode] = {
            "rounds": len(mine),
            **{
                key: statistics.median(r[key] for r in mine)
                for key in (
                    "p50_ms",
                    "p99_ms",
                    "server_cpu_ms_per_request",
                    "server_cpu_percent",
                    "client_cpu_percent",
                    "achieved_rps",
                )
            },
            **{
                key: sum(r[key] for r in mine)
                for key in ("requests", "errors", "shadow_scored", "shadow_dropped")
            },
        }
    ratios = {
        key: modes[ON][key] / modes[OFF][key] if modes[OFF][key] > 0 else None
        for key in ("p50_ms", "p99_ms", "server_cpu_ms_per_request")
    }
    return {
        **context,
        "fraction": SHADOW_FRACTION,
        "load_share": LOAD_SHARE,
        "modes": modes,
        "ratios": ratios,
        "rounds": rounds,
    }


def shadow_targets(figures: dict | None) -> list[dict]:
    """The issue's bound as benchmark targets: p50 and p99 of the served path, shadow on over off, < 1.10.
    Not met (None) when the run had errors or the "on" rounds scored no shadow record (it measured
    nothing)."""
    if figures is None:
        return []
    names = [
        f"shadow scoring (fraction 1.0): served REST 1 record {p} at half saturation, on vs off"
        for p in ("p50", "p99")
    ]
    goal = f"< {GROWTH_LIMIT:.2f} (grows under 10 %)"
    if figures.get("skipped"):
        return [_target(name, None, goal, None, figures["skipped"]) for name in names]
    on, off = figures["modes"][ON], figures["modes"][OFF]
    invalid = ""
    if on["errors"] or off["errors"] or figures.get("saturation_errors"):
        invalid = "requests failed"
    elif not on["shadow_scored"]:
        invalid = "no shadow record was scored"
    note = (
        f"server CPU per request {_fmt(on['server_cpu_ms_per_request'])} ms on vs "
        f"{_fmt(off['server_cpu_ms_per_request'])} ms off "
        f"({_fmt(figures['ratios']['server_cpu_ms_per_request'])}x); "
        f"shadow records scored {on['shadow_scored']}, dropped {on['shadow_dropped']}"
    )
    targets = []
    for name, key in zip(names, ("p50_ms", "p99_ms"), strict=True):
        ratio = figures["ratios"][key]
        met = None if invalid or ratio is None else ratio < GROWTH_LIMIT
        targets.append(_target(name, ratio, goal, met, f"{invalid}; {note}" if invalid else note))
    return targets


def _target(name: str, measured: float | None, goal: str, met: bool | None, note: str) -> dict:
    return {"target": name, "measured": measured, "goal": goal, "met": met, "note": note}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def describe_shadow_cost(figures: dict) -> list[str]:
    """The report's lines: the set-up, then one table row per mode and the ratios."""
    if figures.get("skipped"):
        return ["", f"Shadow scoring cost: not measured ({figures['skipped']})."]
    champion, shadow = figures["champion"], figures["shadow"]
    lines = [
        "",
        f"Shadow scoring cost: champion version {champion['version']} ({champion['family']}) served, alias "
        f"{shadow['alias']} (version {shadow['version']}, {shadow['family']}) scored in shadow at fraction "
        f"{figures['fraction']:g}. REST 1 record saturates at {_fmt(figures['saturated_rps'])} req/s (wrk, "
        f"c={SATURATION_CONNECTIONS}, shadow off); open-loop load at {figures['load_share']:.0%} of it "
        f"({_fmt(figures['rate_rps'])} req/s), {figures['modes'][OFF]['rounds']} rounds of "
        f"{figures['round_s']:g} s per mode, alternating. Medians over rounds; latency from each request's "
        "due time; server CPU per request until the shadow queue and the prediction log have drained.",
        "",
        "| shadow | p50 ms | p99 ms | server CPU ms / request | server CPU % | load generator CPU % | "
        "requests | errors | shadow scored | shadow dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in (OFF, ON):
        m = figures["modes"][mode]
        lines.append(
            f"| {mode} | {_fmt(m['p50_ms'])} | {_fmt(m['p99_ms'])} | "
            f"{_fmt(m['server_cpu_ms_per_request'])} | "
            f"{_fmt(m['server_cpu_percent'])} | {_fmt(m['client_cpu_percent'])} | {m['requests']} | "
            f"{m['errors']} | {m['shadow_scored']} | {m['shadow_dropped']} |"
        )
    r = figures["ratios"]
    lines.append(
        f"| on / off | {_fmt(r['p50_ms'])}x | {_fmt(r['p99_ms'])}x | {_fmt(r['server_cpu_ms_per_request'])}x "
        "| | | | | | |"
    )
    return lines
