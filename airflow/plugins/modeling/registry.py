"""Promotion by alias: which version of the registered model answers as `champion`, and why.

A candidate takes the alias `champion` only if its macro-F1 beats the incumbent's, both computed now on the
TEST split of the dataset version the candidate was trained on, by loading each model as served (ties keep
the incumbent; with no champion the candidate is promoted); the decision names that dataset version. The rule
is the point estimate; beside it the decision states how sure it is: each score's 95 % bootstrap interval,
the paired interval of their difference (on the same TEST rows) and each version's CV mean and std from its
training run, so a win within the noise of one split reads as such. Every decision, forced ones included, is
recorded as its own run named `promotion` in the training experiment (tags: decision, reason, versions,
dataset, within_noise; metrics: the scores, intervals and CV figures; artifact: the returned dict as
promotion.json). A run per decision keeps the full history searchable in the MLflow UI, which model-version
tags cannot (they only hold the latest value).

After promote_best decides, the best candidate that did not become champion takes alias `challenger`
(modeling.challenger), recorded as `challenger_version`. A decision carries the rule that made it (`rule`:
"offline", this module's TEST comparison, or "live evidence", pipeline.live_promotion's paired comparison
on served predictions, whose figures it records as `live_evidence`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from burnout_base.settings import Settings
from burnout_base.tracking import NOTE_TAG, configure_mlflow, ensure_experiment
from etl.dataset import ProcessedDataset, load_dataset
from etl.errors import InputError
from modeling.challenger import move_champion, take_challenger
from modeling.families import FAMILIES
from modeling.model_io import describe_version
from modeling.promotion_evidence import (
    Score,
    compare,
    interval,
    score_version,
    state_evidence,
    training_cv,
    within_noise,
)
from modeling.registry_names import CHAMPION, DATASET_VERSION_TAG, ENSEMBLE, FAMILY_TAG

log = logging.getLogger(__name__)


def resolve_version(settings: Settings, candidate: str | int) -> ModelVersion:
    """A model version given as a number (7, "7") or an alias ("lightgbm", "champion")."""
    client, name = mlflow.MlflowClient(), settings.registered_model_name
    text = str(candidate)
    try:
        if text.isdigit():
            return client.get_model_version(name, text)
        return client.get_model_version_by_alias(name, text)
    except MlflowException:
        raise InputError(f"model {name!r} has no version or alias {text!r}") from None


def find_champion(settings: Settings) -> ModelVersion | None:
    """The version holding alias `champion`, or None (also when the model is not registered yet)."""
    try:
        return mlflow.MlflowClient().get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except MlflowException:
        return None


def write_promotion_run(settings: Settings, decision: dict) -> str:
    """Write one `promotion` run (see the module docstring) and return its id."""
    client = mlflow.MlflowClient()
    experiment_id = ensure_experiment(settings, settings.training_experiment)
    keys = (
        "decision",
        "reason",
        "forced",
        "rule",
        "candidate_version",
        "champion_version",
        "challenger_version",
        "dataset_version",
    )
    tags = {key: str(decision[key]) for key in (*keys, "within_noise")}
    note = describe_decision(decision, settings.registered_model_name)
    run = client.create_run(
        experiment_id, run_name="promotion", tags={"kind": "promotion", NOTE_TAG: note, **tags}
    )
    metrics = {
        key: decision[key]
        for key in (
            "candidate_macro_f1",
            "champion_macro_f1",
            "macro_f1_difference",
            "candidate_cv_macro_f1",
            "candidate_cv_macro_f1_std",
            "champion_cv_macro_f1",
            "champion_cv_macro_f1_std",
        )
    }
    for key in ("candidate_macro_f1_ci", "champion_macro_f1_ci", "macro_f1_difference_ci"):
        if decision[key] is not None:
            metrics[f"{key}_low"], metrics[f"{key}_high"] = decision[key]
    live = decision.get("live_evidence") or {}
    metrics["live_pairs"], metrics["live_difference"] = live.get("rows"), live.get("difference")
    if live.get("ci"):
        metrics["live_difference_ci_low"], metrics["live_difference_ci_high"] = live["ci"]
    for key, value in metrics.items():
        if value is not None:
            client.log_metric(run.info.run_id, key, value)
    client.log_dict(run.info.run_id, decision, "promotion.json")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def describe_decision(decision: dict, model_name: str) -> str:
    """The run description of a promotion: which version was judged against which, on which data, and why."""
    champion = decision["champion_version"]
    against = "no champion" if champion is None else f"champion v{champion}"
    forced = " (forced)" if decision["forced"] else ""
    on = f"dataset `{decision['dataset_version']}`"
    if decision.get("live_evidence"):
        start, end = decision["live_evidence"].get("window") or ("?", "?")
        on = f"live evidence (window {start} to {end})"
    return (
        f"Promotion of `{model_name}` v{decision['candidate_version']} against {against} on {on}: "
        f"**{decision['decision']}**{forced}. Why: {decision['reason']}."
    )


@dataclass(frozen=True)
class PromotionDecision:
    """What promotion decided about one candidate, and on which evidence."""

    decision: str  # "promoted" or "kept"
    reason: str
    forced: bool
    candidate: ModelVersion
    champion: ModelVersion | None  # the incumbent before the decision
    candidate_score: Score | None
    champion_score: Score | None
    dataset_version: str | None  # the TEST split both were scored on
    difference_ci: tuple[float, float] | None = None  # paired, candidate minus champion
    candidate_cv: tuple[float | None, float | None] = (None, None)  # training_cv
    champion_cv: tuple[float | None, float | None] = (None, None)
    rule: str = "offline"  # or "live evidence" (pipeline.live_promotion)
    challenger_version: int | None = None  # the version that took alias challenger with this decision
    live_evidence: dict[str, Any] | None = None  # monitoring.quality.paired_live_difference's figures

    def as_dict(self) -> dict[str, Any]:
        """Plain values, as recorded in MLflow and returned to callers."""
        winner = self.candidate if self.decision == "promoted" else self.champion
        candidate, champion = self.candidate_score, self.champion_score
        candidate_cv, champion_cv = self.candidate_cv, self.champion_cv
        difference = candidate.macro_f1 - champion.macro_f1 if candidate and champion else None
        return {
            "decision": self.decision,
            "reason": self.reason,
            "forced": self.forced,
            "rule": self.rule,
            "candidate_version": int(self.candidate.version),
            "candidate_family": self.candidate.tags.get(FAMILY_TAG),
            "candidate_macro_f1": candidate.macro_f1 if candidate else None,
            "candidate_macro_f1_ci": interval(candidate.ci) if candidate else None,
            "candidate_cv_macro_f1": candidate_cv[0],
            "candidate_cv_macro_f1_std": candidate_cv[1],
            "champion_version": int(self.champion.version) if self.champion else None,
            "champion_macro_f1": champion.macro_f1 if champion else None,
            "champion_macro_f1_ci": interval(champion.ci) if champion else None,
            "champion_cv_macro_f1": champion_cv[0],
            "champion_cv_macro_f1_std": champion_cv[1],
            "macro_f1_difference": difference,
            "macro_f1_difference_ci": interval(self.difference_ci),
            "within_noise": None if self.difference_ci is None else within_noise(self.difference_ci),
            "current_champion_version": int(winner.version),
            "challenger_version": self.challenger_version,
            "dataset_version": self.dataset_version,
            "live_evidence": self.live_evidence,
        }


def dataset_of(settings: Settings, candidate: ModelVersion) -> ProcessedDataset:
    """The dataset version `candidate` was trained on (its TEST split is the fair one to judge it by); the
    latest published one for a version registered without that tag."""
    version = candidate.tags.get(DATASET_VERSION_TAG)
    if version is None:
        log.warning(
            "version %s has no dataset_version tag: scoring it on the latest dataset", candidate.version
        )
    return load_dataset(settings, version)


def move_champion_if_better(
    settings: Settings,
    candidate: ModelVersion,
    dataset: ProcessedDataset,
    cache: dict,
    ranked: Sequence[ModelVersion] | None = None,
) -> dict:
    """Compare `candidate` with the champion on `dataset`, move the alias if it wins, record the decision.
    With `ranked` (the candidates, best first) the best of them that is not the champion afterwards takes
    alias `challenger`."""
    champion = find_champion(settings)
    candidate_score = score_version(settings, candidate, dataset, cache)
    champion_score = score_version(settings, champion, dataset, cache) if champion else None
    difference_ci = None
    if champion_score is not None and champion.version != candidate.version:
        difference_ci = compare(settings, candidate_score, champion_score, dataset)
    promote, reason = judge_candidate(candidate, champion, candidate_score, champion_score)
    reason = f"{reason}: {state_evidence(candidate_score, champion_score, difference_ci)}"
    if promote:
        move_champion(settings, candidate.version)
    after = candidate if promote else champion
    challenger = take_challenger(settings, ranked, int(after.version)) if ranked else None
    decision = PromotionDecision(
        decision="promoted" if promote else "kept",
        reason=reason,
        forced=False,
        candidate=candidate,
        champion=champion,
        candidate_score=candidate_score,
        champion_score=champion_score,
        dataset_version=dataset.version,
        difference_ci=difference_ci,
        candidate_cv=training_cv(candidate),
        champion_cv=training_cv(champion),
        challenger_version=challenger,
    )
    return record_promotion(settings, decision)


def judge_candidate(
    candidate: ModelVersion,
    champion: ModelVersion | None,
    candidate_score: Score,
    champion_score: Score | None,
) -> tuple[bool, str]:
    """The promotion rule: whether `candidate` takes the alias, and why. The rule is the point estimate
    (strictly better macro-F1); the intervals only say how sure it is."""
    if champion is None:
        return True, "no champion yet"
    if champion.version == candidate.version:
        return False, "candidate already is the champion"
    if candidate_score.macro_f1 > champion_score.macro_f1:
        return True, "candidate beats the champion"
    if candidate_score.macro_f1 == champion_score.macro_f1:
        return False, "tie keeps the incumbent"
    return False, "worse"


def record_promotion(settings: Settings, decision: PromotionDecision) -> dict:
    """Record `decision` as a `promotion` run, log it, and return it as plain values with the run's id."""
    result = decision.as_dict()
    result["run_id"] = write_promotion_run(settings, result)
    log.info(
        "promotion: %s v%s (%s) on dataset %s",
        decision.decision,
        result["candidate_version"],
        decision.reason,
        decision.dataset_version,
    )
    return result


def promote_if_better(settings: Settings, candidate: str | int) -> dict:
    """Promote `candidate` (alias or version) to champion if it beats the incumbent on the TEST split of the
    dataset version the candidate was trained on."""
    configure_mlflow(settings)
    version = resolve_version(settings, candidate)
    return move_champion_if_better(settings, version, dataset_of(settings, version), cache={})


def promote_best(settings: Settings) -> dict:
    """Propose the best of the family aliases and the ensemble alias (those that exist) via
    `promote_if_better`'s rule. All are scored on one TEST split: the dataset version of the newest of them
    (the run that just trained)."""
    configure_mlflow(settings)
    client, name, cache = mlflow.MlflowClient(), settings.registered_model_name, {}
    candidates: dict[str, ModelVersion] = {}
    for family in (*FAMILIES, ENSEMBLE):
        try:
            candidates[family] = client.get_model_version_by_alias(name, family)
        except MlflowException:
            continue
    if not candidates:
        raise InputError(f"model {name!r} has no version with a family alias: run `burnout train` first")
    dataset = dataset_of(settings, max(candidates.values(), key=lambda mv: int(mv.version)))
    scores = {family: score_version(settings, mv, dataset, cache) for family, mv in candidates.items()}
    # Best first; on a tie, the first in (*FAMILIES, ENSEMBLE) order: a single family before the ensemble.
    ranking = sorted(scores, key=lambda family: -scores[family].macro_f1)
    ranked = [candidates[family] for family in ranking]
    result = move_champion_if_better(settings, ranked[0], dataset, cache, ranked)
    result["candidates"] = {
        family: {
            "version": int(mv.version),
            "macro_f1": scores[family].macro_f1,
            "macro_f1_ci": interval(scores[family].ci),
        }
        for family, mv in candidates.items()
    }
    return result


def set_champion(settings: Settings, version: int) -> dict:
    """Force alias `champion` onto `version` (rollback or manual pick), scored and recorded like the rest."""
    configure_mlflow(settings)
    candidate = resolve_version(settings, int(version))
    champion = find_champion(settings)
    try:
        dataset = load_dataset(settings)
    except InputError:  # a rollback must work even when no dataset can be read to score it
        dataset = None
    cache: dict = {}
    candidate_score = score_version(settings, candidate, dataset, cache) if dataset else None
    champion_score = score_version(settings, champion, dataset, cache) if dataset and champion else None
    difference_ci = None
    if candidate_score and champion_score and champion.version != candidate.version:
        difference_ci = compare(settings, candidate_score, champion_score, dataset)
    move_champion(settings, candidate.version)
    reason = "forced by operator"
    if candidate_score:
        reason += f": {state_evidence(candidate_score, champion_score, difference_ci)}"
    decision = PromotionDecision(
        decision="promoted",
        reason=reason,
        forced=True,
        candidate=candidate,
        champion=champion,
        candidate_score=candidate_score,
        champion_score=champion_score,
        dataset_version=dataset.version if dataset else None,
        difference_ci=difference_ci,
        candidate_cv=training_cv(candidate),
        champion_cv=training_cv(champion),
    )
    return record_promotion(settings, decision)


def find_trained_version(settings: Settings, family: str, dataset_version: str) -> dict[str, Any] | None:
    """The registered version behind alias `family` (described as training describes it, reused=True) if it
    was trained on `dataset_version`, else None."""
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.registered_model_name, family)
    except MlflowException:
        return None  # no registered model or no such alias yet
    if version.tags.get(DATASET_VERSION_TAG) != dataset_version:
        return None
    return {**describe_version(client, settings.registered_model_name, version.version), "reused": True}
