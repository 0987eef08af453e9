"""The preprocessor: the agreed structure, fitted only on the rows it is given, named output columns, and a
skops round trip that trusts exactly the types it needs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from etl.clean import clean_records
from etl.contract import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from etl.preprocess import (
    PREPROCESSOR_TRUSTED_TYPES,
    build_preprocessor,
    dump_preprocessor,
    fit_preprocessor,
    load_preprocessor,
    select_fit_rows,
    transform_features,
)
from etl.split import split_train_test


@pytest.fixture(scope="module")
def splits(synthetic_frame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_train_test(clean_records(synthetic_frame).frame, test_size=0.3, seed=2)


@pytest.fixture(scope="module")
def fitted(splits) -> ColumnTransformer:
    return fit_preprocessor(splits[0], seed=2)


def test_build_preprocessor_matches_the_agreed_structure():
    preprocessor = build_preprocessor(seed=9)
    (numeric_name, numeric, numeric_columns), (categorical_name, onehot, categorical_columns) = (
        preprocessor.transformers
    )
    assert (numeric_name, categorical_name) == ("numeric", "categorical")
    assert numeric_columns == list(NUMERIC_FEATURES) and categorical_columns == list(CATEGORICAL_FEATURES)
    assert [name for name, _ in numeric.steps] == ["impute", "scale"]
    assert type(numeric["impute"]).__name__ == "IterativeImputer" and numeric["impute"].random_state == 9
    assert isinstance(numeric["scale"], StandardScaler)
    assert isinstance(onehot, OneHotEncoder)
    assert onehot.sparse_output is False and onehot.handle_unknown == "ignore"


def test_fit_preprocessor_learns_only_from_the_given_rows(splits, fitted):
    train, test = splits
    imputer, scaler = (
        fitted.named_transformers_["numeric"]["impute"],
        fitted.named_transformers_["numeric"]["scale"],
    )
    np.testing.assert_allclose(imputer.initial_imputer_.statistics_, train[list(NUMERIC_FEATURES)].mean())
    both = pd.concat([train, test])[list(NUMERIC_FEATURES)].mean()
    assert not np.allclose(imputer.initial_imputer_.statistics_, both)
    assert scaler.n_samples_seen_ == len(train)


def test_transform_features_keeps_index_and_names_columns(splits, fitted):
    test = splits[1]
    X = transform_features(fitted, test)
    assert X.index.equals(test.index)
    assert list(X.columns) == list(fitted.get_feature_names_out())
    assert len(X.columns) == len(NUMERIC_FEATURES) + 6  # two categories for each of three columns
    assert not X.isna().any().any()  # missing numerics are imputed


def test_transform_ignores_unknown_categories(splits, fitted):
    odd = splits[1].head(2).copy()
    odd["Gender"] = "Unknown"
    X = transform_features(fitted, odd)
    assert (X.filter(like="Gender").to_numpy() == 0).all()


def test_dump_and_load_round_trip(splits, fitted):
    data = dump_preprocessor(fitted)
    restored = load_preprocessor(data)
    test = splits[1][list(FEATURES)]
    np.testing.assert_allclose(restored.transform(test), fitted.transform(test))


def test_trusted_types_cover_exactly_what_skops_needs(fitted):
    untrusted = set(sio.get_untrusted_types(data=dump_preprocessor(fitted)))
    # skops trusts the estimators sklearn lists when skops is imported, and IterativeImputer is listed only
    # once `enable_iterative_imputer` ran: whether skops needs it depends on import order, so it is listed.
    assert untrusted | {"sklearn.impute._iterative.IterativeImputer"} == set(PREPROCESSOR_TRUSTED_TYPES)


def test_load_refuses_types_outside_the_trusted_list():
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        load_preprocessor(sio.dumps(FunctionTransformer(os.system)))


def test_the_preprocessor_is_fitted_on_every_training_row_up_to_the_cap(splits, monkeypatch):
    train = splits[0]
    assert select_fit_rows(train, seed=2) is train
    monkeypatch.setattr("etl.preprocess.FIT_MAX_ROWS", 100)
    sample = select_fit_rows(train, seed=2)
    assert len(sample) == 100 and set(sample.index) <= set(train.index)
    assert sample.index.equals(select_fit_rows(train, seed=2).index)  # seeded


def test_large_inputs_are_transformed_in_blocks_to_the_same_values(splits, fitted, monkeypatch):
    whole = transform_features(fitted, splits[0])
    monkeypatch.setattr("etl.preprocess.TRANSFORM_BLOCK_ROWS", 64)
    blocks = transform_features(fitted, splits[0])
    assert blocks.index.equals(whole.index) and list(blocks.columns) == list(whole.columns)
    np.testing.assert_allclose(blocks.to_numpy(), whole.to_numpy(), rtol=0, atol=1e-12)
