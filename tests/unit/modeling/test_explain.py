"""Explanations: additivity, agreement with the model's own output, the raw-feature grouping, exactness of the
permutation method where the answer is known, and the readable top factors."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import numpy as np
import pytest

from etl.contract import CATEGORICAL_FEATURES, CLASSES, FEATURES, NUMERIC_FEATURES
from modeling.explain import PermutationExplainer, build_explainer, raw_values, select_background, top_factors
from modeling.families import FAMILIES
from modeling.scoring import Scorer, arrays_of, frame_of


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def background(dataset):
    return arrays_of(select_background(dataset.train_raw, dataset.y_train, seed=0))


@pytest.fixture(scope="module")
def test_records(dataset):
    return arrays_of(dataset.test_raw.head(24))


def build(make_pipeline, family: str):
    spec = FAMILIES[family]
    return make_pipeline(spec.build_estimator(spec.starting_params, 0))


def test_lightgbm_is_exact_additive_and_matches_the_probabilities(make_pipeline, background, test_records):
    pipeline = build(make_pipeline, "lightgbm")
    scorer = Scorer(pipeline)
    explainer = build_explainer(pipeline, None, scorer.fast)
    assert (explainer.method, explainer.exact, explainer.scale) == ("tree_shap", True, "log_odds")
    explanations = explainer.explain(*test_records)
    assert explanations.contributions.shape == (24, len(CLASSES), len(FEATURES))
    additivity = explanations.base + explanations.contributions.sum(axis=-1) - explanations.output
    assert np.abs(additivity).max() < 1e-6
    _, probabilities = scorer.predict(*test_records)  # in CLASSES order, as served
    np.testing.assert_allclose(softmax(explanations.output), probabilities, atol=1e-12)
    # Without the fast path (the pipeline's own preprocessing) the explanations are the same.
    slow = build_explainer(pipeline, None, None).explain(*test_records)
    np.testing.assert_allclose(slow.contributions, explanations.contributions, atol=1e-9)


def test_one_hot_columns_are_summed_back_into_their_raw_feature(make_pipeline, test_records):
    pipeline = build(make_pipeline, "lightgbm")
    explanations = build_explainer(pipeline).explain(*test_records)
    matrix = pipeline.steps[0][1].transform(frame_of(*test_records))
    raw = pipeline.steps[1][1].booster_.predict(matrix, pred_contrib=True)
    columns = matrix.shape[1]
    order = [list(map(str, pipeline.classes_)).index(name) for name in CLASSES]
    per_class = raw.reshape(len(matrix), len(CLASSES), columns + 1)[:, order]
    names = list(pipeline.steps[0][1].get_feature_names_out())
    gender = [i for i, name in enumerate(names) if "Gender" in name]
    assert len(gender) == 2  # Female, Male
    np.testing.assert_allclose(
        explanations.contributions[:, :, FEATURES.index("Gender")], per_class[:, :, gender].sum(axis=-1)
    )
    fatigue = names.index(next(n for n in names if "Mental Fatigue Score" in n))
    np.testing.assert_allclose(
        explanations.contributions[:, :, FEATURES.index("Mental Fatigue Score")], per_class[:, :, fatigue]
    )


@pytest.mark.parametrize("family", ["knn", "svm"])
def test_other_families_are_additive_on_the_probability_scale(
    make_pipeline, background, test_records, family
):
    pipeline = build(make_pipeline, family)
    scorer = Scorer(pipeline)
    assert build_explainer(pipeline, None, scorer.fast) is None  # no background, no approximate explanation
    explainer = build_explainer(pipeline, background, scorer.fast)
    assert (explainer.method, explainer.exact, explainer.scale) == ("permutation_shap", False, "probability")
    numeric, categorical = test_records
    explanations = explainer.explain(numeric[:6], categorical[:6])
    additivity = explanations.base + explanations.contributions.sum(axis=-1) - explanations.output
    assert np.abs(additivity).max() < 1e-9
    _, probabilities = scorer.predict(numeric[:6], categorical[:6])
    np.testing.assert_allclose(explanations.output, probabilities, atol=1e-12)
    # The base is the mean probability over the background sample.
    np.testing.assert_allclose(explanations.base, scorer.predict(*background)[1].mean(axis=0), atol=1e-12)
    # Deterministic: the same record, alone or in a batch, gets the same explanation.
    again = explainer.explain(numeric[3:4], categorical[3:4])
    np.testing.assert_allclose(again.contributions[0], explanations.contributions[3], atol=1e-12)


def test_permutation_method_recovers_known_shapley_values(background):
    """For an additive model the interventional Shapley value of feature j is g_j(x_j) - mean g_j(background):
    every permutation gives exactly that, so the estimate must too."""
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(len(CLASSES), len(NUMERIC_FEATURES)))
    male = np.array([0.3, -0.1, 0.05])

    def model(numeric, categorical):
        filled = np.nan_to_num(numeric)
        is_male = np.array([values[CATEGORICAL_FEATURES.index("Gender")] == "Male" for values in categorical])
        return filled @ weights.T + np.outer(is_male, male)

    stand_in = SimpleNamespace(classes_=np.array(CLASSES))
    explainer = PermutationExplainer(stand_in, background, model)
    numeric, categorical = background[0][:5] + 0.5, background[1][:5]
    explanations = explainer.explain(numeric, categorical)
    bg_numeric = np.nan_to_num(background[0])
    for j, name in enumerate(NUMERIC_FEATURES):
        expected = np.nan_to_num(numeric[:, j])[:, None] * weights[:, j] - (
            bg_numeric[:, j].mean() * weights[:, j]
        )
        np.testing.assert_allclose(
            explanations.contributions[:, :, FEATURES.index(name)], expected, atol=1e-9
        )
    bg_male = np.mean([values[CATEGORICAL_FEATURES.index("Gender")] == "Male" for values in background[1]])
    is_male = np.array([values[CATEGORICAL_FEATURES.index("Gender")] == "Male" for values in categorical])
    np.testing.assert_allclose(
        explanations.contributions[:, :, FEATURES.index("Gender")],
        np.outer(is_male - bg_male, male),
        atol=1e-9,
    )


def test_top_factors_read_as_sentences(make_pipeline, test_records):
    pipeline = build(make_pipeline, "lightgbm")
    numeric, categorical = test_records
    explanations = build_explainer(pipeline).explain(numeric, categorical)
    factors = top_factors(explanations, 0, numeric[0], categorical[0], "High", count=3)
    assert len(factors) == 3
    sizes = [abs(f["contribution"]) for f in factors]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == pytest.approx(np.abs(explanations.contributions[0, CLASSES.index("High")]).max())
    first = factors[0]
    value = raw_values(numeric[0], categorical[0])[FEATURES.index(first["feature"])]
    verb = "raises" if first["contribution"] >= 0 else "lowers"
    shown = "missing (imputed)" if value is None else value
    assert first["text"] == (
        f"{first['feature']} = {shown} {verb} the log-odds of High by {abs(first['contribution']):.2f}"
    )


def test_raw_values_restore_the_record(dataset):
    numeric, categorical = arrays_of(dataset.test_raw.head(3))
    for i, (_, row) in enumerate(dataset.test_raw.head(3).iterrows()):
        values = raw_values(numeric[i], categorical[i])
        for name, value in zip(FEATURES, values, strict=True):
            expected = row[name]
            if value is None:
                assert expected != expected or expected is None  # NaN or None in the frame
            else:
                assert value == (expected if isinstance(value, str) else pytest.approx(float(expected)))


def test_training_logs_importance_and_background(published_settings, dataset, make_pipeline, tmp_path):
    from burnout_base.tracking import ensure_experiment
    from modeling.explain import load_background
    from modeling.importance import log_background, log_importance
    from modeling.registry_names import (
        BACKGROUND_ARTIFACT,
        IMPORTANCE_CHART_ARTIFACT,
        IMPORTANCE_TABLE_ARTIFACT,
    )

    # An experiment of our own: the default one would write its artifacts under the working directory.
    experiment_id = ensure_experiment(published_settings, "explain-tests")
    pipeline = build(make_pipeline, "knn")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        log_background(dataset, seed=0)
        ranking = log_importance(pipeline, dataset, seed=0)
    assert [name for name, _ in ranking] and sorted(name for name, _ in ranking) == sorted(FEATURES)
    totals = [total for _, total in ranking]
    assert totals == sorted(totals, reverse=True) and totals[0] > 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "explanation")}
    assert {BACKGROUND_ARTIFACT, IMPORTANCE_CHART_ARTIFACT, IMPORTANCE_TABLE_ARTIFACT} <= artifacts
    loaded = load_background(run.info.run_id)
    expected = arrays_of(select_background(dataset.train_raw, dataset.y_train, seed=0))
    np.testing.assert_array_equal(loaded[0], expected[0])
    assert loaded[1] == expected[1]
    with mlflow.start_run(experiment_id=experiment_id) as empty:
        pass
    assert load_background(empty.info.run_id) is None
