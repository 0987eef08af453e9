"""Choosing the ensemble's vote on out-of-fold probabilities of TRAIN: a weight per family, then a weight per
class (the decision rule) kept only when it also wins on rows it was not chosen on.

Probabilities come as {family: (rows, classes) array}, columns in the sorted order of `classes` (as
`cross_val_predict` and the fitted members give them); labels as positions in `classes`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import optuna
from sklearn.metrics import f1_score

from modeling.weighted_vote import reweight

log = logging.getLogger(__name__)
Folds = Sequence[tuple[np.ndarray, np.ndarray]]
# Each trial is a weighted average and an F1 on ~17k rows (a few ms); TPE overhead dominates past ~150 trials.
FAMILY_WEIGHT_TRIALS = 150
# A member weighing less than this is left out of the vote: it moves a probability by at most that much, so
# it rarely changes a class, yet every request and explanation would pay its whole predict (on the real data
# TPE gave the SVM 0.0004, and its predict_proba was 90% of the ensemble's explanation time).
MIN_MEMBER_WEIGHT = 0.05
# Class weights stay within a factor 2 of even, on a grid of ratios ~1.12 apart: enough to move the borderline
# rows macro-F1 cares about, not enough to hand a class to its neighbour. Two free weights: 169 points.
CLASS_WEIGHT_GRID = np.geomspace(0.5, 2.0, 13)


def vote(probabilities: Mapping[str, np.ndarray], weights=None, class_weights=None) -> np.ndarray:
    """The weighted average of the families' probabilities, reweighted per class: what the vote serves."""
    stacked = np.stack(list(probabilities.values()))
    average = np.average(stacked, axis=0, weights=None if weights is None else np.asarray(weights))
    return reweight(average, class_weights)


def macro_f1(proba: np.ndarray, codes: np.ndarray) -> float:
    """Macro-F1 of the argmax of `proba` against class positions `codes`."""
    labels = np.arange(proba.shape[1])
    return float(f1_score(codes, proba.argmax(axis=1), labels=labels, average="macro", zero_division=0))


@contextmanager
def quiet_optuna():
    """Optuna logs every trial at INFO; a hundred weight trials would drown the training log."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def tune_family_weights(probabilities: Mapping[str, np.ndarray], codes: np.ndarray, seed: int) -> list[float]:
    """Family weights (summing to 1) maximising macro-F1, by seeded TPE starting from the plain average;
    weights under MIN_MEMBER_WEIGHT become 0 (that member is left out)."""
    families = list(probabilities)

    def objective(trial: optuna.Trial) -> float:
        weights = [trial.suggest_float(f"weight_{family}", 0.0, 1.0) for family in families]
        return macro_f1(vote(probabilities, weights), codes) if sum(weights) > 0 else 0.0

    with quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({f"weight_{family}": 1.0 for family in families})
        study.optimize(objective, n_trials=FAMILY_WEIGHT_TRIALS)
    weights = np.array([study.best_params[f"weight_{family}"] for family in families])
    weights = np.where(weights / weights.sum() < MIN_MEMBER_WEIGHT, 0.0, weights)
    return [float(w) for w in weights / weights.sum()]


def tune_class_weights(proba: np.ndarray, codes: np.ndarray) -> list[float]:
    """The grid's class weights maximising macro-F1 of the reweighted `proba` (first class fixed at 1: scaling
    every class alike changes no argmax); on a tie, the most even ones."""
    best, best_score = [1.0] * proba.shape[1], macro_f1(proba, codes)
    for free in itertools.product(CLASS_WEIGHT_GRID, repeat=proba.shape[1] - 1):
        candidate = [1.0, *map(float, free)]
        score = macro_f1(reweight(proba, candidate), codes)
        if score > best_score:
            best, best_score = candidate, score
    return best


def measure_rule_gain(proba: np.ndarray, codes: np.ndarray, folds: Folds) -> float:
    """Mean macro-F1 gain of class weights over none on each fold's rows, weights chosen on the others."""
    gains = []
    for _, held_out in folds:
        chosen_on = np.setdiff1d(np.arange(len(codes)), held_out)
        class_weights = tune_class_weights(proba[chosen_on], codes[chosen_on])
        reweighted = reweight(proba[held_out], class_weights)
        gains.append(macro_f1(reweighted, codes[held_out]) - macro_f1(proba[held_out], codes[held_out]))
    return float(np.mean(gains))


def tune_vote(
    probabilities: Mapping[str, np.ndarray], codes: np.ndarray, folds: Folds, seed: int, decision_rule: bool
) -> dict:
    """Family weights, then, with `decision_rule`, class weights; the class weights are kept only if choosing
    them on K-1 folds raised macro-F1 on the K-th on average (on the real data an unchecked rule gained 0.001
    out of fold and lost 0.007 on TEST). Returns {"weights", "class_weights" (None = no rule), "rule_gain"}.
    """
    weights = tune_family_weights(probabilities, codes, seed)
    if not decision_rule:
        return {"weights": weights, "class_weights": None, "rule_gain": None}
    proba = vote(probabilities, weights)
    gain = measure_rule_gain(proba, codes, folds)
    class_weights = tune_class_weights(proba, codes) if gain > 0 else None
    log.info("class weights %s (held-out macro-F1 gain %+.4f)", class_weights or "dropped", gain)
    return {"weights": weights, "class_weights": class_weights, "rule_gain": gain}


def fold_scores(
    probabilities: Mapping[str, np.ndarray], codes: np.ndarray, folds: Folds, weights, class_weights
) -> list[float]:
    """Macro-F1 of the chosen vote on each fold's held-out rows (slightly optimistic: its few weights were
    chosen on these same out-of-fold rows)."""
    proba = vote(probabilities, weights, class_weights)
    return [macro_f1(proba[held_out], codes[held_out]) for _, held_out in folds]
