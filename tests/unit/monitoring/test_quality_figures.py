"""The live-quality figures on synthetic labelled rows: macro-F1 and recall equal sklearn's, the expected
calibration error equals a loop over the bins, bootstrap intervals hold the point estimate and narrow with
more rows, and the paired shadow difference (sign, interval, grouping by versions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from etl.contract import CLASSES
from monitoring.live_figures import (
    classification_figures,
    paired_difference,
    shadow_pairs,
    version_figures,
)

ROUNDS = 400


def noisy(rows: int, accuracy: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed, predicted, probabilities): each answer right with probability `accuracy`."""
    rng = np.random.default_rng(seed)
    observed = rng.choice(CLASSES, size=rows, p=[0.4, 0.35, 0.25])
    wrong = rng.choice(CLASSES, size=rows)
    predicted = np.where(rng.random(rows) < accuracy, observed, wrong)
    proba = rng.dirichlet([1, 1, 1], size=rows)
    top = np.array([CLASSES.index(c) for c in predicted])
    proba[np.arange(rows), top] += 1.5  # the predicted class is the most probable one
    return observed, predicted, proba / proba.sum(axis=1, keepdims=True)


def loop_ece(observed, proba, bins: int = 10) -> float:
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            i
            for i in range(len(observed))
            if (low < proba[i].max() <= high) or (b == 0 and proba[i].max() == 0)
        ]
        if members:
            confidence = np.mean([proba[i].max() for i in members])
            accuracy = np.mean([CLASSES[int(np.argmax(proba[i]))] == observed[i] for i in members])
            total += len(members) / len(observed) * abs(accuracy - confidence)
    return total


def test_macro_f1_recall_and_ece_equal_independent_computations():
    observed, predicted, proba = noisy(700, 0.7, seed=1)

    figures = classification_figures(observed, predicted, proba, ROUNDS, seed=0)

    labels = list(CLASSES)
    assert figures["rows"] == 700
    assert figures["macro_f1"] == pytest.approx(
        f1_score(observed, predicted, labels=labels, average="macro", zero_division=0), abs=1e-6
    )
    recalls = recall_score(observed, predicted, labels=labels, average=None, zero_division=0)
    for name, value in zip(CLASSES, recalls, strict=True):
        assert figures["recall"][name] == pytest.approx(value, abs=1e-6)
    assert figures["ece"] == pytest.approx(loop_ece(observed, proba), abs=1e-6)
    assert sum(figures["reliability"]["count"]) == 700
    assert figures["observed"] == {c: int((observed == c).sum()) for c in CLASSES}


def test_intervals_hold_the_point_estimate():
    observed, predicted, proba = noisy(500, 0.75, seed=2)

    figures = classification_figures(observed, predicted, proba, ROUNDS, seed=0)

    low, high = figures["macro_f1_ci"]
    assert low <= figures["macro_f1"] <= high and low < high
    for name in CLASSES:
        low, high = figures["recall_ci"][name]
        assert low <= figures["recall"][name] <= high
    low, high = figures["ece_ci"]
    assert low <= figures["ece"] <= high


def test_interval_narrows_with_more_rows():
    few = classification_figures(*noisy(150, 0.7, seed=3), ROUNDS, seed=0)
    many = classification_figures(*noisy(6000, 0.7, seed=3), ROUNDS, seed=0)

    def width(figures, key="macro_f1_ci"):
        return figures[key][1] - figures[key][0]

    assert width(many) < width(few) / 3
    assert width(many, "ece_ci") < width(few, "ece_ci")


def test_same_seed_same_interval_and_unseen_class_has_no_recall():
    observed = np.array(["Low", "Low", "Medium", "Medium", "Low"] * 10)
    predicted = np.array(["Low", "Medium", "Medium", "Medium", "Low"] * 10)

    first = classification_figures(observed, predicted, None, ROUNDS, seed=7)
    again = classification_figures(observed, predicted, None, ROUNDS, seed=7)

    assert first["macro_f1_ci"] == again["macro_f1_ci"]
    assert first["recall"]["High"] is None and first["recall_ci"]["High"] is None
    assert "ece" not in first  # no probabilities, no calibration


def pairs_frame(observed, served, shadow, served_version=1, shadow_version=2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "observed_class_served": observed,
            "predicted_class_served": served,
            "predicted_class_shadow": shadow,
            "model_version_served": served_version,
            "model_version_shadow": shadow_version,
        }
    )


def test_paired_difference_is_shadow_minus_served_with_a_paired_interval():
    observed, served, _ = noisy(800, 0.6, seed=4)
    # A better model: right wherever the served one is, and on half of the rest.
    shadow = np.where(np.random.default_rng(6).random(800) < 0.5, observed, served)

    result = paired_difference(pairs_frame(observed, served, shadow), ROUNDS, seed=0)

    labels = list(CLASSES)
    expected = f1_score(observed, shadow, labels=labels, average="macro") - f1_score(
        observed, served, labels=labels, average="macro"
    )
    assert result["rows"] == 800
    assert result["difference"] == pytest.approx(expected, abs=1e-6)
    low, high = result["ci"]
    assert 0 < low <= result["difference"] <= high


def test_identical_answers_differ_by_exactly_zero():
    observed, served, _ = noisy(300, 0.7, seed=8)

    result = paired_difference(pairs_frame(observed, served, served), ROUNDS, seed=0)

    assert result["difference"] == 0 and result["ci"] == [0.0, 0.0]  # paired: the same resampled rows


def labelled_rows(observed, predicted, version, role, proba=None, request_ids=None) -> pd.DataFrame:
    rows = len(observed)
    proba = proba if proba is not None else np.full((rows, 3), 1 / 3)
    frame = pd.DataFrame(
        {
            "request_id": request_ids if request_ids is not None else [f"r{i}" for i in range(rows)],
            "record_index": 0,
            "model_version": version,
            "role": role,
            "predicted_class": predicted,
            "observed_class": observed,
        }
    )
    for i, name in enumerate(CLASSES):
        frame[f"proba_{name}"] = proba[:, i]
    return frame


def test_versions_and_shadow_pairs_are_grouped_by_version_and_role():
    observed, served, proba = noisy(300, 0.8, seed=9)
    _, shadow, _ = noisy(300, 0.5, seed=10)
    labelled = pd.concat(
        [
            labelled_rows(observed, served, 1, "served", proba),
            labelled_rows(observed[:200], shadow[:200], 2, "shadow"),
            labelled_rows(observed[:50], served[:50], 3, "served", request_ids=[f"x{i}" for i in range(50)]),
        ]
    )

    versions = version_figures(labelled, ROUNDS, seed=0)
    pairs = shadow_pairs(labelled, ROUNDS, seed=0)

    assert [(f["model_version"], f["role"], f["rows"]) for f in versions] == [
        (1, "served", 300),
        (3, "served", 50),
        (2, "shadow", 200),
    ]
    [pair] = pairs
    assert (pair["served_version"], pair["shadow_version"], pair["rows"]) == (1, 2, 200)
    labels = list(CLASSES)
    assert pair["difference"] == pytest.approx(
        f1_score(observed[:200], shadow[:200], labels=labels, average="macro")
        - f1_score(observed[:200], served[:200], labels=labels, average="macro"),
        abs=1e-6,
    )
    assert pair["ci"][1] < 0  # the shadow model is clearly worse


def test_champion_test_floor_reads_the_logged_bound_else_scores_the_champion(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from burnout_base.settings import Settings
    from modeling import model_io, promotion_evidence, registry
    from monitoring.quality import champion_test_floor

    settings = Settings(_env_file=None, home=tmp_path)
    champion = SimpleNamespace(version="4", tags={})
    logged = {"macro_f1": 0.91, "macro_f1_ci_low": 0.89}
    monkeypatch.setattr(registry, "find_champion", lambda _settings: champion)
    monkeypatch.setattr(registry, "dataset_of", lambda _settings, _version: "dataset")
    monkeypatch.setattr(
        model_io,
        "describe_version",
        lambda _client, _name, version: {"dataset_version": "d7", "test_metrics": dict(logged)},
    )
    scored = promotion_evidence.Score(0.8, (0.75, 0.85), np.array([]))
    monkeypatch.setattr(promotion_evidence, "score_version", lambda *_args: scored)

    assert champion_test_floor(settings) == {
        "version": 4,
        "dataset_version": "d7",
        "test_macro_f1": 0.91,
        "test_macro_f1_low": 0.89,
    }
    logged.clear()  # a run that logged no interval: scored now on its dataset's TEST split
    assert champion_test_floor(settings)["test_macro_f1_low"] == 0.75

    monkeypatch.setattr(registry, "find_champion", lambda _settings: None)
    assert champion_test_floor(settings) is None
