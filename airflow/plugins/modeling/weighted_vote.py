"""The ensemble's served estimator: sklearn's soft VotingClassifier, plus class weights on its probabilities.

It lives apart from `modeling.ensemble` (the training code) because skops imports an estimator's module when a
model loads: the service must get this class with scikit-learn and numpy only, no MLflow, Optuna or pandas.
Choosing its weights is `modeling.vote_tuning`. This file keeps its name: skops saves the class by its import
path (`modeling.weighted_vote.ClassWeightedVotingClassifier`): every registered ensemble loads it from here.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import VotingClassifier

# What skops must trust, beyond the families' own types, to load a fitted ensemble: this class and the Bunch
# VotingClassifier keeps its named estimators in (VotingClassifier, FrozenEstimator are trusted by default).
ENSEMBLE_TRUSTED_TYPES = (
    "modeling.weighted_vote.ClassWeightedVotingClassifier",
    "sklearn.utils._bunch.Bunch",
)


class ClassWeightedVotingClassifier(VotingClassifier):
    """Soft voting whose averaged probabilities are multiplied by `class_weights` (in `classes_` order) and
    renormalised to sum to one.

    A weight above one lowers the evidence a class needs to win: the decision rule tuned for macro-F1. Only
    `predict_proba` changes; VotingClassifier's soft `predict` is the argmax of `self.predict_proba`, so the
    class served is always the argmax of the probabilities served. `class_weights=None` is plain soft voting.
    """

    def __init__(
        self,
        estimators,
        *,
        weights=None,
        class_weights=None,
        n_jobs=None,
        flatten_transform=True,
        verbose=False,
    ):
        super().__init__(
            estimators,
            voting="soft",
            weights=weights,
            n_jobs=n_jobs,
            flatten_transform=flatten_transform,
            verbose=verbose,
        )
        self.class_weights = class_weights

    def predict_proba(self, X) -> np.ndarray:
        return reweight(super().predict_proba(X), self.class_weights)


def reweight(proba: np.ndarray, class_weights) -> np.ndarray:
    """`proba` with each class's column multiplied by its weight, rows renormalised (None: unchanged)."""
    if class_weights is None:
        return proba
    weighted = proba * np.asarray(class_weights, dtype=np.float64)
    return weighted / weighted.sum(axis=1, keepdims=True)
