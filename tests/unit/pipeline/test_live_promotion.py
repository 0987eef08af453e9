"""Promotion on live evidence, on a real (SQLite) registry with two cheap versions and the paired live
comparison faked: off by default, promotes the challenger only on enough pairs with an interval above 0
(recorded as a `promotion` run naming the rule), otherwise records nothing and the offline rule runs."""

from __future__ import annotations

import sys
import types

import mlflow
import pytest
from mlflow.exceptions import MlflowException

import pipeline.steps
from burnout_base.tracking import configure_mlflow, ensure_experiment
from modeling.registry_names import CHALLENGER, CHAMPION
from pipeline.live_promotion import judge_live, promote_on_live_evidence

WINDOW = ["2025-01-01", "2025-01-31"]


def _evidence(rows=500, difference=0.04, ci=(0.01, 0.07)) -> dict:
    return {
        "rows": rows,
        "difference": difference,
        "ci": None if ci is None else list(ci),
        "champion_version": 1,
        "challenger_version": 2,
        "window": WINDOW,
    }


@pytest.fixture
def registry(make_settings, tmp_path):
    """Model "live-test" with v1 (alias champion) and v2 (alias challenger); promotion stays minimal."""
    settings = make_settings(registered_model_name="live-test", live_promotion_min_rows=200)
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    client.create_registered_model(settings.registered_model_name)
    for version in (1, 2):
        source = tmp_path / f"model-{version}"
        source.mkdir()
        client.create_model_version(settings.registered_model_name, str(source))
    client.set_registered_model_alias(settings.registered_model_name, CHAMPION, "1")
    client.set_registered_model_alias(settings.registered_model_name, CHALLENGER, "2")
    return settings


@pytest.fixture
def live(monkeypatch):
    """Fake monitoring.quality.paired_live_difference: set `live.answer` (a dict or an exception); the calls
    land in `live.calls`."""
    import monitoring

    try:
        import monitoring.quality as quality
    except Exception:  # not written yet (or half-written): a stand-in module
        quality = types.ModuleType("monitoring.quality")
        monkeypatch.setitem(sys.modules, "monitoring.quality", quality)
        monkeypatch.setattr(monitoring, "quality", quality, raising=False)
    state = types.SimpleNamespace(answer=_evidence(), calls=[])

    def paired_live_difference(settings, champion_version, challenger_version, days=None):
        state.calls.append((champion_version, challenger_version, days))
        if isinstance(state.answer, Exception):
            raise state.answer
        return state.answer

    monkeypatch.setattr(quality, "paired_live_difference", paired_live_difference, raising=False)
    return state


def _alias(settings, alias) -> int | None:
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(settings.registered_model_name, alias)
    except MlflowException:
        return None
    return int(version.version)


def _promotion_runs(settings) -> list:
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    return mlflow.MlflowClient().search_runs([experiment_id], "tags.kind = 'promotion'")


def test_off_by_default_asks_nothing(registry, live):
    promotion, entry = promote_on_live_evidence(registry)
    assert promotion is None and entry["status"] == "off" and entry["rows"] is None
    assert live.calls == [] and _alias(registry, CHAMPION) == 1


def test_promotes_the_challenger_on_enough_pairs_above_zero_and_records_the_rule(registry, live):
    promotion, entry = promote_on_live_evidence(registry, enabled=True)

    assert live.calls == [(1, 2, None)]
    assert entry["status"] == "promoted" and entry["rows"] == 500 and entry["ci"] == [0.01, 0.07]
    assert entry["window"] == WINDOW and entry["champion_version"] == 1 and entry["challenger_version"] == 2
    assert promotion["decision"] == "promoted" and promotion["rule"] == "live evidence"
    assert promotion["candidate_version"] == 2 and promotion["champion_version"] == 1
    assert promotion["current_champion_version"] == 2 and promotion["live_evidence"] == entry
    assert promotion["reason"].startswith("live evidence: challenger v2 vs champion v1: the challenger")
    # champion moved, and the challenger alias with it (one version never holds both)
    assert _alias(registry, CHAMPION) == 2 and _alias(registry, CHALLENGER) is None

    run = mlflow.MlflowClient().get_run(promotion["run_id"])
    assert run.data.tags["rule"] == "live evidence" and run.data.tags["decision"] == "promoted"
    assert run.data.metrics["live_pairs"] == 500 and run.data.metrics["live_difference"] == 0.04
    assert run.data.metrics["live_difference_ci_low"] == 0.01
    note = run.data.tags["mlflow.note.content"]
    assert "against champion v1 on live evidence (window 2025-01-01 to 2025-01-31)" in note


def test_the_setting_turns_it_on_and_the_request_can_turn_it_off(registry, live):
    settings = registry.model_copy(update={"promote_on_live_evidence": True})
    assert promote_on_live_evidence(settings, enabled=False)[1]["status"] == "off"
    assert promote_on_live_evidence(settings)[1]["status"] == "promoted"


@pytest.mark.parametrize(
    ("evidence", "why"),
    [
        (_evidence(rows=199), "199 paired predictions with feedback, fewer than the 200 needed"),
        (_evidence(ci=(0.0, 0.05)), "not surely better"),
        (_evidence(difference=-0.02, ci=(-0.05, 0.01)), "interval reaches 0"),
        (_evidence(difference=None, ci=None), "no interval"),
    ],
)
def test_keeps_the_champion_and_records_nothing_without_sure_evidence(registry, live, evidence, why):
    live.answer = evidence
    promotion, entry = promote_on_live_evidence(registry, enabled=True)
    assert promotion is None and entry["status"] == "kept" and why in entry["reason"]
    assert entry["rows"] == evidence["rows"]
    assert _alias(registry, CHAMPION) == 1 and _alias(registry, CHALLENGER) == 2
    assert _promotion_runs(registry) == []


def test_without_a_challenger_nothing_is_compared(registry, live):
    mlflow.MlflowClient().delete_registered_model_alias(registry.registered_model_name, CHALLENGER)
    promotion, entry = promote_on_live_evidence(registry, enabled=True)
    assert promotion is None and entry["status"] == "kept" and "no challenger" in entry["reason"]
    assert live.calls == []


def test_unavailable_evidence_keeps_the_champion(registry, live):
    live.answer = ConnectionError("feedback store unreachable")
    promotion, entry = promote_on_live_evidence(registry, enabled=True)
    assert promotion is None and entry["status"] == "kept" and "unavailable" in entry["reason"]


def test_judge_live_needs_the_lower_bound_strictly_above_zero():
    assert judge_live(_evidence(ci=(0.001, 0.02)), 200)[0] is True
    assert judge_live(_evidence(ci=(0.0, 0.02)), 200)[0] is False
    assert judge_live(_evidence(rows=200), 200)[0] is True


def test_step_runs_the_offline_rule_unless_live_evidence_promoted(registry, live, monkeypatch):
    import modeling.registry

    offline = []
    monkeypatch.setattr(
        modeling.registry, "promote_best", lambda settings: offline.append(1) or {"decision": "kept"}
    )
    live.answer = _evidence(rows=10)
    kept = pipeline.steps.promote(registry, {"promote_on_live_evidence": True})
    assert kept["decision"] == "kept" and kept["live_evidence"]["status"] == "kept" and offline == [1]

    off = pipeline.steps.promote(registry, {})
    assert off["live_evidence"]["status"] == "off" and offline == [1, 1]

    live.answer = _evidence()
    promoted = pipeline.steps.promote(registry, {"promote_on_live_evidence": True})
    assert promoted["rule"] == "live evidence" and promoted["live_evidence"]["status"] == "promoted"
    assert offline == [1, 1]  # the offline rule did not run
