"""The shadow-cost bench (issue 24): on a tiny budget against two real services, its report has one figure set
per mode and the "on" rounds really scored shadow records (so it cannot silently measure nothing); the target
reads the on/off ratios and refuses a run that scored nothing. No timing is asserted."""

from __future__ import annotations

import pytest

from benchmarks.load import find_wrk
from benchmarks.report import render_markdown
from benchmarks.shadow_cost import (
    OFF,
    ON,
    describe_shadow_cost,
    measure_shadow_cost,
    pick_shadow_alias,
    shadow_targets,
    summarize_shadow_cost,
)
from etl.contract import FEATURES
from etl.synthetic import generate_synthetic
from tests.integration.serving_support import register_synthetic_model


@pytest.mark.skipif(find_wrk() is None, reason="wrk not installed (make system-deps)")
def test_the_bench_measures_both_modes_and_the_shadow_really_scores(settings, tmp_path):
    register_synthetic_model(settings, "lightgbm", ("champion", "lightgbm"), rows=200)
    register_synthetic_model(settings, "knn", ("challenger", "knn"), rows=200, seed=1)
    records = generate_synthetic(rows=50, seed=2).loc[:, list(FEATURES)]

    figures = measure_shadow_cost(settings, records, 0.8, 0.0, tmp_path / "work", rounds=2, saturation_s=1)

    assert (figures["champion"]["family"], figures["shadow"]) == (
        "lightgbm",
        {"alias": "challenger", "version": 2, "family": "knn"},
    )
    assert figures["saturated_rps"] > 0 and figures["rate_rps"] == pytest.approx(figures["saturated_rps"] / 2)
    assert [r["mode"] for r in figures["rounds"]] == [OFF, ON, ON, OFF]
    for r in figures["rounds"]:
        assert r["requests"] > 0 and r["errors"] == 0, r
        assert r["server_cpu_ms_per_request"] > 0
        # Every answered request of an "on" round was scored in shadow (fraction 1.0, the queue never full
        # at this size), and none of the "off" service's.
        assert r["shadow_scored"] + r["shadow_dropped"] == (r["requests"] if r["mode"] == ON else 0), r
    on, off = figures["modes"][ON], figures["modes"][OFF]
    assert on["rounds"] == off["rounds"] == 2
    assert on["shadow_scored"] > 0 and off["shadow_scored"] == 0
    assert set(figures["ratios"]) == {"p50_ms", "p99_ms", "server_cpu_ms_per_request"}
    assert all(ratio > 0 for ratio in figures["ratios"].values())
    targets = shadow_targets(figures)
    assert [t["measured"] for t in targets] == [figures["ratios"]["p50_ms"], figures["ratios"]["p99_ms"]]
    assert all(t["met"] in (True, False) for t in targets)
    assert "| on / off |" in "\n".join(describe_shadow_cost(figures))


def fake_round(mode: str, p50: float, p99: float, cpu_ms: float, scored: int) -> dict:
    return {
        "mode": mode,
        "requests": 1000,
        "errors": 0,
        "p50_ms": p50,
        "p99_ms": p99,
        "server_cpu_ms_per_request": cpu_ms,
        "server_cpu_percent": 50.0,
        "client_cpu_percent": 10.0,
        "achieved_rps": 1000.0,
        "shadow_scored": scored,
        "shadow_dropped": 0,
    }


def summary(scored: int = 1000) -> dict:
    rounds = [
        fake_round(OFF, 1.0, 10.0, 0.4, 0),
        fake_round(ON, 1.05, 12.0, 0.6, scored),
        fake_round(ON, 1.06, 10.5, 0.6, scored),
        fake_round(OFF, 1.0, 10.0, 0.4, 0),
        fake_round(OFF, 2.0, 30.0, 0.5, 0),
        fake_round(ON, 1.07, 10.8, 0.7, scored),
    ]
    return summarize_shadow_cost(
        rounds,
        saturated_rps=2000.0,
        saturation_errors=0,
        rate_rps=1000.0,
        round_s=2.0,
        champion={"version": 1, "family": "lightgbm"},
        shadow={"alias": "challenger", "version": 2, "family": "knn"},
    )


def test_medians_over_rounds_and_their_ratios_make_the_targets():
    figures = summary()
    assert figures["modes"][OFF]["p50_ms"] == 1.0 and figures["modes"][ON]["p99_ms"] == 10.8
    assert figures["modes"][ON]["shadow_scored"] == 3000
    assert figures["ratios"]["p50_ms"] == pytest.approx(1.06)
    assert figures["ratios"]["server_cpu_ms_per_request"] == pytest.approx(1.5)
    p50, p99 = shadow_targets(figures)
    assert p50["met"] is True and p99["met"] is True
    assert "scored 3000" in p50["note"] and "1.5x" in p50["note"]
    assert "Shadow scoring cost" in render_markdown(
        {
            "finished_at": "2026-12-05T00:00:00Z",
            "model_version": 1,
            "seconds_per_setting": 2,
            "rows": [],
            "targets": [p50, p99],
            "shadow_cost": figures,
            "machine": {},
        },
        machine=False,
    )


def test_a_run_that_scored_nothing_in_shadow_meets_no_target():
    assert [t["met"] for t in shadow_targets(summary(scored=0))] == [None, None]
    skipped = shadow_targets({"skipped": "no alias"})
    assert [t["met"] for t in skipped] == [None, None] and skipped[0]["note"] == "no alias"
    assert shadow_targets(None) == []


def test_the_shadow_alias_is_the_challenger_else_another_version():
    def aliases(**versions: int) -> dict:
        return {alias: {"version": v, "family": alias} for alias, v in versions.items()}

    assert pick_shadow_alias(aliases(champion=1, lightgbm=1, knn=2, challenger=3)) == "challenger"
    assert pick_shadow_alias(aliases(champion=1, lightgbm=1, svm=3, knn=2)) == "knn"
    assert pick_shadow_alias(aliases(champion=1, lightgbm=1)) is None
    assert pick_shadow_alias(aliases(knn=2)) is None
