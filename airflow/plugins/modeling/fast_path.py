"""A numpy re-enactment of the fitted preprocessor, feeding the estimator's fastest exact predict: the model's
own probabilities without paying pandas, the ColumnTransformer and sklearn's input checks on every request.

It is exact because it performs the same float64 operations in the same order: imputers fill only the
missing cells, with the fitted statistics (SimpleImputer) or with IterativeImputer's own rounds (the initial
fill, then each fitted per-feature regressor's prediction on the rows missing that feature, clipped as
sklearn clips); StandardScaler subtracts `mean_` then divides by `scale_`; one-hot writes 1.0 at the fitted
category's column (each combination of the contract's categories is encoded once, when the fast path is
made: a record's one-hot columns cost one dict lookup and a row copy, not a lookup per categorical feature).
Anything it does not know how to replay exactly makes `compile_fast_path` return None and the model answers
through its pipeline; `modeling.scoring` also checks every fast path against the pipeline on probe records
(complete and with missing values) before using it. The service and batch scoring both score through it.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from burnout_base.cpus import available_cpus
from etl.contract import BY_NAME, CATEGORICAL_FEATURES, NUMERIC_FEATURES

log = logging.getLogger(__name__)
# Below this many rows a single thread beats LightGBM's OpenMP start-up; above it, use every core this process
# may use (explicitly: `burnout serve` limits OpenMP's default to one thread).
_SINGLE_THREAD_ROWS = 256


@functools.cache
def batch_threads() -> int:
    """Threads for a large batch: the CPUs this process may use (read once: it reads the cgroup's files)."""
    return available_cpus()


class Unsupported(Exception):
    """A pipeline step the fast path cannot replay exactly."""


@dataclass(frozen=True)
class _NumericBlock:
    source: np.ndarray  # positions in the contract's numeric columns
    target: slice  # output columns
    # In order: ("sub" | "div", vector), or ("impute", function filling the NaNs of its argument in place).
    ops: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class _OneHotColumn:
    source: int  # position in the contract's categorical columns
    columns: dict[str, int]  # category -> output column


class FastPath:
    """Scores records given as arrays: numeric features in the contract's order (NaN = missing) and a tuple of
    categorical values per record; probabilities in the estimator's class order. `predictor` names what
    scores the preprocessed matrix (the estimator's own predict, or its compiled trees)."""

    def __init__(
        self,
        width: int,
        numeric: list[_NumericBlock],
        onehot: list[_OneHotColumn],
        predict_proba: Callable[[np.ndarray], np.ndarray],
        classes: np.ndarray,
        predictor: str = "estimator",
    ):
        self.width = width
        self.classes = classes
        self.predictor = predictor
        self._numeric = numeric
        self._onehot = onehot
        self._predict_proba = predict_proba
        # Every combination of the contract's categories (8 today) -> its row of one-hot columns; the extra
        # last row, all zeros, is what code -1 (a combination outside the contract) picks before
        # `_encode_one` fills it.
        combinations = list(itertools.product(*(BY_NAME[name].categories for name in CATEGORICAL_FEATURES)))
        self._codes = {values: code for code, values in enumerate(combinations)}
        self._encoded = np.zeros((len(combinations) + 1, width))
        for values, row in zip(combinations, self._encoded, strict=False):
            self._encode_one(row, values)

    def transform(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> np.ndarray:
        """The preprocessor's output."""
        codes = np.fromiter(
            map(self._codes.get, categorical, itertools.repeat(-1)), dtype=np.intp, count=len(categorical)
        )
        out = self._encoded[codes]  # a new matrix: the one-hot columns set, the numeric ones zero
        for row in np.flatnonzero(codes < 0).tolist():
            self._encode_one(out[row], categorical[row])
        for block in self._numeric:
            values = numeric[:, block.source]  # a copy: the ops work in place
            for op, argument in block.ops:
                if op == "sub":
                    values -= argument
                elif op == "div":
                    values /= argument
                else:
                    argument(values)
            out[:, block.target] = values
        return out

    def predict_proba(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> np.ndarray:
        return self._predict_proba(self.transform(numeric, categorical))

    def with_predictor(self, predict_proba: Callable[[np.ndarray], np.ndarray], predictor: str) -> FastPath:
        """The same replay feeding another predictor of the same estimator (its compiled trees)."""
        swapped = copy.copy(self)
        swapped._predict_proba, swapped.predictor = predict_proba, predictor
        return swapped

    def _encode_one(self, row: np.ndarray, values: tuple[str, ...]) -> None:
        for column in self._onehot:
            # Unknown categories encode as all zeros (handle_unknown="ignore").
            position = column.columns.get(values[column.source])
            if position is not None:
                row[position] = 1.0


def compile_fast_path(pipeline) -> FastPath | None:
    """The fast path of a fitted Pipeline([preprocessor, estimator]), or None if a step is not replayable."""
    try:
        return _compile(pipeline)
    except Unsupported as exc:
        log.info("no fast path for this model (%s): it answers through its pipeline", exc)
        return None


def _compile(pipeline) -> FastPath:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise Unsupported("not a two-step Pipeline(preprocessor, estimator)")
    preprocessor, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(preprocessor, ColumnTransformer) or preprocessor.sparse_output_:
        raise Unsupported("the preprocessor is not a dense ColumnTransformer")
    numeric, onehot, width = [], [], 0
    for name, transformer, columns in preprocessor.transformers_:
        target = preprocessor.output_indices_[name]
        width = max(width, target.stop)
        if transformer == "drop" or target.stop == target.start:
            continue
        columns = list(columns)
        if all(isinstance(c, str) and c in NUMERIC_FEATURES for c in columns):
            source = np.array([NUMERIC_FEATURES.index(c) for c in columns])
            numeric.append(_NumericBlock(source, target, _numeric_ops(transformer)))
        elif all(isinstance(c, str) and c in CATEGORICAL_FEATURES for c in columns):
            onehot.extend(_onehot_columns(transformer, columns, target.start))
        else:
            raise Unsupported(f"transformer {name!r} mixes or names unknown columns {columns}")
    if getattr(estimator, "n_features_in_", width) != width:
        raise Unsupported("the estimator does not take the preprocessor's output")
    classes = np.asarray(estimator.classes_)
    return FastPath(width, numeric, onehot, _estimator_proba(estimator), classes, _name_of(estimator))


def _numeric_ops(transformer) -> tuple[tuple[str, object], ...]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    ops: list[tuple[str, object]] = []
    for step in steps:
        if step == "passthrough" or step is None:
            continue
        if isinstance(step, SimpleImputer) or type(step).__name__ == "IterativeImputer":
            # Replayable when the imputer only fills NaN cells: no indicator columns, no dropped all-missing
            # feature, no real value (say 0) treated as missing.
            if step.add_indicator or not _is_nan(step.missing_values) or _drops_features(step):
                raise Unsupported(f"{type(step).__name__} changes the shape or the observed values")
            ops.append(("impute", _imputation(step)))
        elif isinstance(step, StandardScaler):
            if step.with_mean:
                ops.append(("sub", np.asarray(step.mean_, dtype=np.float64)))
            if step.scale_ is not None:
                ops.append(("div", np.asarray(step.scale_, dtype=np.float64)))
        else:
            raise Unsupported(f"numeric step {type(step).__name__}")
    return tuple(ops)


def _imputation(imputer) -> Callable[[np.ndarray], None]:
    """A function filling the NaN cells of a float64 matrix in place exactly as `imputer.transform` would."""
    if type(imputer).__name__ != "IterativeImputer":
        return _fill_with(np.asarray(imputer.statistics_, dtype=np.float64))
    if imputer.sample_posterior:
        raise Unsupported("IterativeImputer with sample_posterior draws at random")
    initial_fill = _fill_with(np.asarray(imputer.initial_imputer_.statistics_, dtype=np.float64))
    rounds = imputer.n_iter_
    # Each fitted step: the feature it imputes, from which features, with which fitted estimator and bounds.
    sequence = [
        (
            t.feat_idx,
            np.asarray(t.neighbor_feat_idx),
            _regressor_predict(t.estimator),
            imputer._min_value[t.feat_idx],
            imputer._max_value[t.feat_idx],
        )
        for t in imputer.imputation_sequence_
    ]

    def impute(values: np.ndarray) -> None:
        missing = np.isnan(values)
        if not missing.any():  # the common case, and sklearn's rounds would change nothing
            return
        initial_fill(values, missing)
        if rounds == 0 or missing.all():
            return
        for feature, neighbors, predict, low, high in sequence:
            rows = missing[:, feature]
            if rows.any():
                values[rows, feature] = np.clip(predict(values[:, neighbors][rows]), low, high)

    return impute


def _regressor_predict(estimator) -> Callable[[np.ndarray], np.ndarray]:
    """The imputer's per-feature regressor: BayesianRidge (the default) predicts `X @ coef_ + intercept_`, the
    very expression of sklearn's linear `_decision_function`, without its input checks (20 calls per batch);
    any other regressor answers through its own `predict`."""
    if type(estimator).__name__ != "BayesianRidge" or np.ndim(estimator.coef_) != 1:
        return estimator.predict
    coef, intercept = estimator.coef_, estimator.intercept_

    def predict(X: np.ndarray) -> np.ndarray:
        return X @ coef + intercept

    return predict


def _fill_with(statistics: np.ndarray) -> Callable[..., None]:
    def fill(values: np.ndarray, missing: np.ndarray | None = None) -> None:
        missing = np.isnan(values) if missing is None else missing
        if missing.any():
            values[missing] = statistics[np.nonzero(missing)[1]]

    return fill


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _drops_features(imputer) -> bool:
    if imputer.keep_empty_features:
        return False
    empty = getattr(imputer, "_is_empty_feature", None)
    if empty is None:  # SimpleImputer: an all-missing feature has a NaN statistic
        empty = np.isnan(np.asarray(imputer.statistics_, dtype=np.float64))
    return bool(np.any(empty))


def _onehot_columns(transformer, columns: list[str], start: int) -> list[_OneHotColumn]:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(transformer, Pipeline) and len(transformer.steps) == 1:
        transformer = transformer.steps[0][1]
    if not isinstance(transformer, OneHotEncoder):
        raise Unsupported(f"categorical step {type(transformer).__name__}")
    if transformer.drop_idx_ is not None or transformer.handle_unknown not in (
        "ignore",
        "infrequent_if_exist",
    ):
        raise Unsupported("OneHotEncoder with drop or without handle_unknown='ignore'")
    if getattr(transformer, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories")
    result, position = [], start
    for name, categories in zip(columns, transformer.categories_, strict=True):
        lookup = {str(c): position + i for i, c in enumerate(categories)}
        result.append(_OneHotColumn(CATEGORICAL_FEATURES.index(name), lookup))
        position += len(categories)
    return result


def _estimator_proba(estimator) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's fastest exact way to get probabilities from a float64 matrix."""
    if type(estimator).__name__ == "LGBMClassifier":
        if callable(estimator.objective):
            raise Unsupported("LightGBM with a custom objective")
        booster = estimator.booster_

        def predict_lightgbm(matrix: np.ndarray) -> np.ndarray:
            threads = 1 if matrix.shape[0] <= _SINGLE_THREAD_ROWS else batch_threads()
            result = booster.predict(matrix, num_threads=threads)
            return result if result.ndim == 2 else np.column_stack((1.0 - result, result))

        return predict_lightgbm
    if not hasattr(estimator, "predict_proba"):
        raise Unsupported(f"{type(estimator).__name__} has no predict_proba")
    if hasattr(estimator, "feature_names_in_"):
        # Fitted on a DataFrame: a shallow copy without the names takes numpy rows without a warning per call.
        estimator = copy.copy(estimator)
        del estimator.feature_names_in_
    return estimator.predict_proba


def _name_of(estimator) -> str:
    return "lightgbm" if type(estimator).__name__ == "LGBMClassifier" else type(estimator).__name__
