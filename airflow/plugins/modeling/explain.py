"""Why the model answered what it did: the contribution of each of the 13 raw input features (the dataset's
own column names) to each class's score, plus the base value, such that base + the sum of the contributions
equals the model's output for that class.

Two methods, chosen by the model:

- `tree_shap` (exact), for LightGBM: LightGBM's own TreeSHAP (`pred_contrib=True`) on the preprocessed
  matrix. The scale is the raw score, the log-odds the softmax turns into probabilities
  (P(class) = softmax(output)[class]). SHAP values add up over columns, so the one-hot columns of a
  categorical feature are summed back into that feature and each numeric column is its own feature. A
  missing value is explained as the value the imputer filled in.
- `permutation_shap` (approximate), for every other model (KNN, SVM, the ensemble): Shapley values of the raw
  features estimated by antithetic permutation sampling (Strumbelj and Kononenko, 2014). Features outside a
  coalition take their values from a fixed background sample of TRAIN records, so the base is the mean
  probability over that sample and the scale is the probability. Each permutation walks from the background
  mean to the record's own probability, so additivity is exact; what is approximate is how the total is
  shared among the features. The cost per record is fixed: (PERMUTATIONS x (13 - 1) + 2) coalitions x
  BACKGROUND_ROWS model rows, that is 3,136 rows.

Measured on the real dataset (2-core machine): TreeSHAP takes about 0.6 ms for one record and 0.5 ms per
record in a batch of 50; the permutation method about 0.25 s per record for KNN and 0.8 s for the SVM. The
service therefore bounds approximate explanations far tighter than exact ones, before the work
(`explain_max_records_approximate`, 10, beside `explain_max_records`, 100).

LightGBM's TreeSHAP is the library's own. The permutation sampler is about forty lines here rather than the
`shap` package, which would bring numba and llvmlite (about 150 MB) into the serving image for the same
algorithm.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from etl.contract import CATEGORICAL_FEATURES, CLASSES, FEATURES, NUMERIC_FEATURES
from modeling.registry_names import BACKGROUND_ARTIFACT
from modeling.scoring import arrays_of, class_name, frame_of

log = logging.getLogger(__name__)

BACKGROUND_ROWS = 32
PERMUTATIONS = 8  # 4 random orders and their reverses (antithetic pairs halve the variance for free)
PERMUTATION_SEED = 0  # fixed: the same record gets the same explanation every time
# Records explained per model call in the permutation method: 8 x 3,136 rows keeps each call's
# temporaries around 4 MB.
RECORDS_PER_CALL = 8

_NUMERIC_POSITIONS = np.array([FEATURES.index(name) for name in NUMERIC_FEATURES])
_CATEGORICAL_POSITIONS = np.array([FEATURES.index(name) for name in CATEGORICAL_FEATURES])

Arrays = tuple[np.ndarray, list[tuple[str, ...]]]


@dataclass(frozen=True)
class Explanations:
    """Explanations of a batch: `contributions[i, k, j]` is feature FEATURES[j]'s share of record i's output
    for class CLASSES[k]; `base + contributions.sum(-1) == output` on `scale`."""

    method: str
    exact: bool
    scale: str
    base: np.ndarray  # (classes,)
    contributions: np.ndarray  # (records, classes, features)
    output: np.ndarray  # (records, classes)
    features: tuple[str, ...] = FEATURES
    classes: tuple[str, ...] = CLASSES


class Explainer:
    """Explains records given as arrays (numeric features in NUMERIC_FEATURES order, NaN = missing, and a
    tuple of categorical values per record), like `modeling.scoring.Scorer` scores them."""

    method: str
    exact: bool
    scale: str

    def explain(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> Explanations:
        raise NotImplementedError


class TreeExplainer(Explainer):
    method, exact, scale = "tree_shap", True, "log_odds"

    def __init__(self, pipeline, transform: Callable[[np.ndarray, list], np.ndarray]):
        self._booster = pipeline.steps[-1][1].booster_
        self._transform = transform
        self._order = _class_order(pipeline)
        self._to_features = _column_features(pipeline.steps[0][1])  # (columns, features) 0/1 matrix

    def explain(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> Explanations:
        matrix = self._transform(numeric, categorical)
        classes, columns = len(self._order), self._to_features.shape[0]
        contrib = self._booster.predict(matrix, pred_contrib=True, num_threads=1)
        contrib = np.asarray(contrib).reshape(len(matrix), classes, columns + 1)[:, self._order]
        # The model's own raw score, computed apart from the contributions, so that additivity is checked.
        output = np.asarray(self._booster.predict(matrix, raw_score=True, num_threads=1))[:, self._order]
        return Explanations(
            method=self.method,
            exact=self.exact,
            scale=self.scale,
            base=contrib[0, :, -1].copy(),  # TreeSHAP's expected value: the same for every record
            contributions=contrib[:, :, :-1] @ self._to_features,
            output=output,
        )


class PermutationExplainer(Explainer):
    method, exact, scale = "permutation_shap", False, "probability"

    def __init__(self, pipeline, background: Arrays, proba: Callable[[np.ndarray, list], np.ndarray]):
        self._proba = proba
        self._order = _class_order(pipeline)
        numeric, categorical = background
        self._background_numeric = np.asarray(numeric, dtype=np.float64)
        self._background_categorical = _object_matrix(categorical)
        self._masks, self._steps = _permutation_masks(len(FEATURES), PERMUTATIONS, PERMUTATION_SEED)
        self.base = self._model_proba(self._background_numeric, list(categorical)).mean(axis=0)

    def _model_proba(self, numeric: np.ndarray, categorical: list) -> np.ndarray:
        return np.asarray(self._proba(numeric, categorical))[:, self._order]

    def explain(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> Explanations:
        contributions = np.empty((len(categorical), len(CLASSES), len(FEATURES)))
        output = np.empty((len(categorical), len(CLASSES)))
        for start in range(0, len(categorical), RECORDS_PER_CALL):
            stop = min(start + RECORDS_PER_CALL, len(categorical))
            values = self._coalition_values(numeric[start:stop], categorical[start:stop])
            # values: (records, coalitions, classes). Each step adds one feature to a coalition; its share is
            # the change in value, averaged over the permutations.
            for feature, (before, after) in enumerate(self._steps):
                delta = values[:, after] - values[:, before]  # (records, steps of this feature, classes)
                contributions[start:stop, :, feature] = delta.mean(axis=1)
            output[start:stop] = values[:, -1]  # the last coalition is the full record
        return Explanations(self.method, self.exact, self.scale, self.base.copy(), contributions, output)

    def _coalition_values(self, numeric: np.ndarray, categorical: list[tuple[str, ...]]) -> np.ndarray:
        """The model's mean probability over the background, for every record and coalition."""
        masks, background = self._masks, self._background_numeric
        records, coalitions, rows = len(categorical), len(masks), len(background)
        numeric_mask = masks[:, _NUMERIC_POSITIONS][None, :, None, :]  # (1, coalitions, 1, numeric)
        mixed_numeric = np.where(numeric_mask, numeric[:, None, None, :], background[None, None, :, :])
        records_categorical = _object_matrix(categorical)
        categorical_mask = masks[:, _CATEGORICAL_POSITIONS][None, :, None, :]
        mixed_categorical = np.where(
            categorical_mask,
            records_categorical[:, None, None, :],
            self._background_categorical[None, None, :, :],
        )
        proba = self._model_proba(
            mixed_numeric.reshape(-1, len(NUMERIC_FEATURES)),
            [tuple(row) for row in mixed_categorical.reshape(-1, len(CATEGORICAL_FEATURES)).tolist()],
        )
        return proba.reshape(records, coalitions, rows, len(CLASSES)).mean(axis=2)


def _object_matrix(categorical: list[tuple[str, ...]]) -> np.ndarray:
    return np.array(categorical, dtype=object).reshape(len(categorical), len(CATEGORICAL_FEATURES))


def _permutation_masks(features: int, permutations: int, seed: int) -> tuple[np.ndarray, list]:
    """The distinct coalitions the sampled permutations visit (empty first, full last), and per feature the
    (before, after) coalition positions of each step that adds it."""
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(permutations // 2):
        order = rng.permutation(features)
        orders.extend((order, order[::-1]))
    index: dict[bytes, int] = {}
    masks: list[np.ndarray] = []

    def position(mask: np.ndarray) -> int:
        key = mask.tobytes()
        if key not in index:
            index[key] = len(masks)
            masks.append(mask.copy())
        return index[key]

    empty, full = np.zeros(features, dtype=bool), np.ones(features, dtype=bool)
    position(empty)
    steps: list[tuple[list[int], list[int]]] = [([], []) for _ in range(features)]
    for order in orders:
        mask = empty.copy()
        for feature in order:
            before = position(mask)
            mask[feature] = True
            after = position(mask) if not mask.all() else -1  # the full coalition goes last, below
            steps[feature][0].append(before)
            steps[feature][1].append(after)
    masks.append(full)
    last = len(masks) - 1
    steps_arrays = [
        (np.array(before), np.array([last if a == -1 else a for a in after])) for before, after in steps
    ]
    return np.array(masks), steps_arrays


def build_explainer(pipeline, background: Arrays | None = None, fast=None) -> Explainer | None:
    """The explainer for a fitted Pipeline(preprocessor, estimator): exact TreeSHAP for a multiclass LightGBM,
    else permutation SHAP over `background` (None without one). `fast`, the model's checked FastPath, spares
    the pipeline's pandas and input checks on every call."""
    estimator = pipeline.steps[-1][1]
    if set(_labels(pipeline)) != set(CLASSES):
        log.info("no explainer: the model does not predict the classes %s", CLASSES)
        return None
    if type(estimator).__name__ == "LGBMClassifier" and estimator.booster_.num_model_per_iteration() == len(
        CLASSES
    ):
        if fast is not None:
            transform = fast.transform
        else:
            preprocessor = pipeline.steps[0][1]

            def transform(numeric, categorical):
                return preprocessor.transform(frame_of(numeric, categorical))

        return TreeExplainer(pipeline, transform)
    if background is None:
        return None
    if fast is not None:
        proba = fast.predict_proba
    else:

        def proba(numeric, categorical):
            return pipeline.predict_proba(frame_of(numeric, categorical))

    return PermutationExplainer(pipeline, background, proba)


def _labels(pipeline) -> list[str]:
    return [class_name(c) for c in pipeline.classes_]


def _class_order(pipeline) -> np.ndarray:
    """Positions of CLASSES in the model's own class order."""
    labels = _labels(pipeline)
    return np.array([labels.index(name) for name in CLASSES])


def _column_features(preprocessor) -> np.ndarray:
    """A (preprocessed columns x FEATURES) 0/1 matrix: which raw feature each column comes from."""
    width = max(s.stop for s in preprocessor.output_indices_.values())
    matrix = np.zeros((width, len(FEATURES)))
    for name, transformer, columns in preprocessor.transformers_:
        target = preprocessor.output_indices_[name]
        if transformer == "drop" or target.stop == target.start:
            continue
        columns = list(columns)
        sizes = [1] * len(columns)
        if target.stop - target.start != len(columns):  # one-hot: a column per fitted category
            last = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
            sizes = [len(categories) for categories in last.categories_]
        position = target.start
        for column, size in zip(columns, sizes, strict=True):
            matrix[position : position + size, FEATURES.index(column)] = 1.0
            position += size
        if position != target.stop:
            raise ValueError(f"cannot map the output columns of transformer {name!r} to raw features")
    return matrix


# Reading explanations -------------------------------------------------------------------------------------


def raw_values(numeric_row: np.ndarray, categorical_row: tuple[str, ...]) -> list[float | int | str | None]:
    """A record's raw values in FEATURES order (None = missing)."""
    values: list = [None] * len(FEATURES)
    for position, value in zip(_NUMERIC_POSITIONS, numeric_row.tolist(), strict=True):
        values[position] = None if math.isnan(value) else (int(value) if value.is_integer() else value)
    for position, value in zip(_CATEGORICAL_POSITIONS, categorical_row, strict=True):
        values[position] = value
    return values


def top_factors(
    explanations: Explanations,
    index: int,
    numeric_row: np.ndarray,
    categorical_row: tuple[str, ...],
    class_name: str,
    count: int = 3,
) -> list[dict]:
    """The `count` features that moved record `index`'s score for `class_name` most, each with a sentence a
    person can read, e.g. "Mental Fatigue Score = 7.8 raises the log-odds of High by 0.21"."""
    k = explanations.classes.index(class_name)
    row = explanations.contributions[index, k]
    values = raw_values(numeric_row, categorical_row)
    target = f"the log-odds of {class_name}" if explanations.scale == "log_odds" else f"P({class_name})"
    factors = []
    for j in np.argsort(-np.abs(row), kind="stable")[:count].tolist():
        contribution, value = float(row[j]), values[j]
        shown = "missing (imputed)" if value is None else value
        verb = "raises" if contribution >= 0 else "lowers"
        factors.append(
            {
                "feature": FEATURES[j],
                "value": value,
                "class": class_name,
                "contribution": contribution,
                "text": f"{FEATURES[j]} = {shown} {verb} {target} by {abs(contribution):.2f}",
            }
        )
    return factors


# The background sample ---------------------------------------------------------------------------------


def select_background(train_raw, y_train, seed: int, rows: int = BACKGROUND_ROWS):
    """A fixed, class-stratified sample of raw TRAIN records (FEATURES columns) to explain against."""
    from sklearn.model_selection import train_test_split

    features = train_raw[list(FEATURES)]
    if len(features) <= rows:
        return features.reset_index(drop=True)
    sample, _ = train_test_split(features, train_size=rows, stratify=np.asarray(y_train), random_state=seed)
    return sample.reset_index(drop=True)


def load_background(run_id: str) -> Arrays | None:
    """The background sample a training run logged, as arrays; None when the run has none (older runs)."""
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    try:
        document = mlflow.artifacts.load_dict(f"runs:/{run_id}/{BACKGROUND_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    frame = pd.DataFrame(document["records"], columns=list(FEATURES))
    return arrays_of(frame)
