"""The model's input fields, derived from the data contract: the one table that the request model, the
hot-path check and the GraphQL and gRPC adapters map their own field names onto. No column name is spelled
here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from burnout_api.examples import COMPLETE_RECORD
from etl.contract import BY_NAME, CATEGORICAL_FEATURES, FEATURES, IDENTIFIER, NUMERIC_FEATURES, Column


@dataclass(frozen=True)
class FeatureField:
    """One model input: its dataset name (what REST takes), an identifier form (GraphQL, gRPC), its column."""

    name: str
    key: str
    column: Column


def identifier_of(name: str) -> str:
    """A column name as an identifier: "Work-Life Balance Score" -> "work_life_balance_score"."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def build_example_record() -> dict[str, object]:
    """A valid, realistic record for documentation and tests: a median-ish employee of the dataset."""
    return dict(COMPLETE_RECORD)


FEATURE_FIELDS: tuple[FeatureField, ...] = tuple(
    FeatureField(n, identifier_of(n), BY_NAME[n]) for n in FEATURES
)
FIELD_BY_KEY: dict[str, FeatureField] = {f.key: f for f in FEATURE_FIELDS}
# The hot path keeps numeric and categorical inputs apart, in the contract's order.
NUMERIC_COLUMNS: tuple[Column, ...] = tuple(BY_NAME[n] for n in NUMERIC_FEATURES)
CATEGORICAL_COLUMNS: tuple[Column, ...] = tuple(BY_NAME[n] for n in CATEGORICAL_FEATURES)
# Who a record is about (optional, any protocol): logged with its answer and hashed by the canary split,
# never a model input. gRPC and GraphQL spell it employee_id / employeeId.
EMPLOYEE_ID = IDENTIFIER
EMPLOYEE_ID_KEY = identifier_of(IDENTIFIER)
MAX_EMPLOYEE_ID_CHARS = 128
