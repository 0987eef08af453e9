"""The preprocessor: MICE (IterativeImputer) and standard scaling for numeric features, one-hot for the
categorical ones. It is fitted on TRAIN only and travels inside the served model, so its serialized form and
the list of types trusted to load it live here.

Fitting MICE holds about eight float64 copies of the numeric columns at once (~650 bytes per row, more than
five times the row's size in the CSV), so beyond FIT_MAX_ROWS training rows it is fitted on a seeded sample of
that many: the estimates are as good, and the ETL's memory stays bounded on large inputs. Below that (the real
dataset has 17,151 training rows) it is fitted on every training row, as before. For the same reason
`transform_features` goes through more than TRANSFORM_BLOCK_ROWS rows in blocks (results then differ from a
one-piece transform in the last bit at most, which only inputs already fitted on a sample see)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from etl.contract import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

FIT_MAX_ROWS = 50_000
TRANSFORM_BLOCK_ROWS = FIT_MAX_ROWS

# Types skops may load for a fitted preprocessor beyond those it trusts by default; modeling extends this list
# with its estimators. A test checks it against what skops actually finds, so it cannot silently go stale.
PREPROCESSOR_TRUSTED_TYPES: list[str] = [
    "numpy.dtype",
    "sklearn.impute._iterative.IterativeImputer",
    "sklearn.impute._iterative._ImputerTriplet",
]


def build_preprocessor(seed: int) -> ColumnTransformer:
    """An unfitted preprocessor taking the raw FEATURES columns."""
    numeric = Pipeline([("impute", IterativeImputer(random_state=seed)), ("scale", StandardScaler())])
    return ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            (
                "categorical",
                OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )


def select_fit_rows(train_raw: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The training rows the preprocessor is fitted on: all of them, or a seeded sample of FIT_MAX_ROWS."""
    if len(train_raw) <= FIT_MAX_ROWS:
        return train_raw
    return train_raw.sample(n=FIT_MAX_ROWS, random_state=seed)


def fit_preprocessor(train_raw: pd.DataFrame, seed: int) -> ColumnTransformer:
    """Fit a new preprocessor on the training rows only (fitting on test rows would leak them)."""
    # MICE runs many small SVDs (rows x ~10 columns): BLAS threads only add overhead there, several times
    # the work on a busy machine (measured 6x slower wall time on the real dataset).
    with threadpool_limits(limits=1, user_api="blas"):
        return build_preprocessor(seed).fit(train_raw[list(FEATURES)])


def transform_features(preprocessor: ColumnTransformer, raw: pd.DataFrame) -> pd.DataFrame:
    """Apply a fitted preprocessor, keeping the rows' index and naming the output columns."""
    features = raw[list(FEATURES)]
    names = list(preprocessor.get_feature_names_out())
    if len(features) <= TRANSFORM_BLOCK_ROWS:
        values = preprocessor.transform(features)
    else:  # each block's temporaries (several float64 copies of it) instead of the whole input's
        values = np.empty((len(features), len(names)), order="F")  # column-major, as pandas keeps columns
        for start in range(0, len(features), TRANSFORM_BLOCK_ROWS):
            block = features.iloc[start : start + TRANSFORM_BLOCK_ROWS]
            values[start : start + len(block)] = preprocessor.transform(block)
    return pd.DataFrame(values, index=raw.index, columns=names, copy=False)


def dump_preprocessor(preprocessor: ColumnTransformer) -> bytes:
    """Serialize with skops (no pickle: loading never runs arbitrary code)."""
    import zipfile

    import skops.io as sio

    # skops stores its (large, repetitive) JSON schema uncompressed by default.
    return sio.dumps(preprocessor, compression=zipfile.ZIP_DEFLATED)


def load_preprocessor(data: bytes) -> ColumnTransformer:
    """Load a preprocessor written by `dump_preprocessor`, trusting only PREPROCESSOR_TRUSTED_TYPES."""
    import skops.io as sio

    return sio.loads(data, trusted=PREPROCESSOR_TRUSTED_TYPES)
