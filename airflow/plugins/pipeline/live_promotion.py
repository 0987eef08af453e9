"""Promotion on live evidence: the optional rule the pipeline's promote step tries before the offline one.

When it is on (BURNOUT_PROMOTE_ON_LIVE_EVIDENCE, or the trigger form's `promote_on_live_evidence`) and the
registry has both a champion and a challenger, monitoring.quality.paired_live_difference compares them on
the same served requests that got feedback (macro-F1 of the challenger's shadow answers minus the
champion's served ones). The challenger takes `champion` when at least BURNOUT_LIVE_PROMOTION_MIN_ROWS pairs
back it and the lower bound of the difference's interval is above 0; the decision is recorded as a
`promotion` run (modeling.registry's recorder, rule "live evidence", the evidence beside it), alias
`challenger` is dropped (its version is the champion now) and the offline rule does not run. Otherwise
nothing is recorded here and the offline rule runs as before.

Either way the step reports a `live_evidence` entry: status ("promoted", "kept" or "off"), why, and the
evidence's figures (rows, difference, ci, window, the two versions; None when there was none)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from burnout_base.settings import Settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)
EVIDENCE_KEYS = ("rows", "difference", "ci", "window", "champion_version", "challenger_version")
RULE = "live evidence"


def promote_on_live_evidence(settings: Settings, enabled: bool | None = None) -> tuple[dict | None, dict]:
    """(the recorded promotion when the challenger was promoted on live evidence else None, the
    `live_evidence` entry). `enabled` None = settings.promote_on_live_evidence."""
    on = settings.promote_on_live_evidence if enabled is None else bool(enabled)
    if not on:
        return None, entry("off", "promotion on live evidence is off (BURNOUT_PROMOTE_ON_LIVE_EVIDENCE)")

    from burnout_base.tracking import configure_mlflow
    from modeling.challenger import find_alias
    from modeling.registry_names import CHALLENGER, CHAMPION

    configure_mlflow(settings)
    champion, challenger = find_alias(settings, CHAMPION), find_alias(settings, CHALLENGER)
    if champion is None or challenger is None:
        missing = " and ".join(a for a, mv in ((CHAMPION, champion), (CHALLENGER, challenger)) if mv is None)
        return None, entry("kept", f"no {missing}: nothing to compare on live evidence")
    evidence = live_difference(settings, int(champion.version), int(challenger.version))
    if evidence is None:
        return None, entry("kept", "live evidence unavailable (the log says why)")
    promote, reason = judge_live(evidence, settings.live_promotion_min_rows)
    if not promote:
        log.info("live evidence keeps champion v%s: %s", champion.version, reason)
        return None, entry("kept", reason, evidence)
    return record_live_promotion(settings, champion, challenger, entry("promoted", reason, evidence))


def live_difference(settings: Settings, champion_version: int, challenger_version: int) -> dict | None:
    """monitoring.quality.paired_live_difference, or None (logged) when it cannot answer: live evidence is
    an extra, it never stops the offline rule."""
    from monitoring import quality

    try:
        return quality.paired_live_difference(
            settings, champion_version=champion_version, challenger_version=challenger_version
        )
    except Exception as exc:
        log.warning("no live evidence for v%s against v%s: %s", challenger_version, champion_version, exc)
        return None


def judge_live(evidence: dict, min_rows: int) -> tuple[bool, str]:
    """The rule: enough pairs, and the difference's interval (challenger minus champion) wholly above 0."""
    rows, difference, ci = evidence.get("rows") or 0, evidence.get("difference"), evidence.get("ci")
    challenger, champion = evidence.get("challenger_version"), evidence.get("champion_version")
    versions = f"challenger v{challenger} vs champion v{champion}"
    if rows < min_rows:
        return False, f"{versions}: {rows} paired predictions with feedback, fewer than the {min_rows} needed"
    if ci is None or difference is None:
        return False, f"{versions}: {rows} pairs but no interval for their difference"
    figures = f"difference {difference:+.4f}, 95 % interval [{ci[0]:.4f}, {ci[1]:.4f}] on {rows} pairs"
    if ci[0] > 0:
        return True, f"{versions}: the challenger is better on live feedback (macro-F1 {figures})"
    return False, f"{versions}: not surely better on live feedback (macro-F1 {figures}; interval reaches 0)"


def record_live_promotion(
    settings: Settings, champion: ModelVersion, challenger: ModelVersion, live: dict
) -> tuple[dict, dict]:
    """Move `champion` onto the challenger (which drops alias challenger) and record the decision."""
    from modeling.challenger import move_champion
    from modeling.promotion_evidence import training_cv
    from modeling.registry import PromotionDecision, record_promotion

    move_champion(settings, challenger.version)
    decision = PromotionDecision(
        decision="promoted",
        reason=f"{RULE}: {live['reason']}",
        forced=False,
        candidate=challenger,
        champion=champion,
        candidate_score=None,
        champion_score=None,
        dataset_version=None,
        candidate_cv=training_cv(challenger),
        champion_cv=training_cv(champion),
        rule=RULE,
        live_evidence=live,
    )
    return record_promotion(settings, decision), live


def entry(status: str, reason: str, evidence: dict | None = None) -> dict:
    """The step's `live_evidence` entry: status, reason and the evidence's figures (None when absent)."""
    figures = {key: (evidence or {}).get(key) for key in EVIDENCE_KEYS}
    return {"status": status, "reason": reason, **figures}
