"""The preprocessor: MICE (IterativeImputer) and standard scaling for numeric features, one-hot for the
categorical ones. It is fitted on TRAIN only and travels inside the served model, so its serialized form and
the list of types trusted to load it live here."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from etl.contract import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

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


def fit_preprocessor(train_raw: pd.DataFrame, seed: int) -> ColumnTransformer:
    """Fit a new preprocessor on the training rows only (fitting on test rows would leak them)."""
    # MICE runs many small SVDs (rows x ~10 columns): BLAS threads only add overhead there, several times
    # the work on a busy machine (measured 6x slower wall time on the real dataset).
    with threadpool_limits(limits=1, user_api="blas"):
        return build_preprocessor(seed).fit(train_raw[list(FEATURES)])


def transform_features(preprocessor: ColumnTransformer, raw: pd.DataFrame) -> pd.DataFrame:
    """Apply a fitted preprocessor, keeping the rows' index and naming the output columns."""
    values = preprocessor.transform(raw[list(FEATURES)])
    return pd.DataFrame(values, index=raw.index, columns=list(preprocessor.get_feature_names_out()))


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
