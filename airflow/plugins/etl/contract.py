"""The data contract of the raw burnout dataset: the single source of truth for column names, types,
allowed ranges and categories, which columns are features, and the target classes.

Validation, the synthetic generator and the API's request model all derive from `COLUMNS`; no other module
spells a column name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "date", "category", "integer", "float"]
Role = Literal["id", "dropped", "feature", "target"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    role: Role
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    nullable: bool = False
    description: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "float")


COLUMNS: tuple[Column, ...] = (
    Column("Employee ID", "id", "id", description="Opaque employee identifier."),
    Column("Date of Joining", "date", "dropped", description="ISO date (YYYY-MM-DD) the employee joined."),
    Column("Gender", "category", "feature", categories=("Female", "Male")),
    Column("Company Type", "category", "feature", categories=("Product", "Service")),
    Column("WFH Setup Available", "category", "feature", categories=("No", "Yes")),
    Column("Designation", "integer", "feature", 0, 5, description="Seniority level, 0 (junior) to 5."),
    Column(
        "Resource Allocation",
        "float",
        "feature",
        1,
        10,
        nullable=True,
        description="Hours of work allocated per day, 1 to 10.",
    ),
    Column(
        "Mental Fatigue Score",
        "float",
        "feature",
        0,
        10,
        nullable=True,
        description="Self-reported mental fatigue, 0 to 10.",
    ),
    Column(
        "Burn Rate",
        "float",
        "target",
        0,
        1,
        nullable=True,
        description="Burnout rate, 0 to 1; the class is derived from it.",
    ),
    Column("Years in Company", "integer", "dropped", 0, 60, description="Near-constant in the data."),
    Column("Work Hours per Week", "integer", "feature", 0, 100),
    Column("Sleep Hours", "float", "feature", 0, 24),
    Column("Work-Life Balance Score", "integer", "feature", 1, 5),
    Column("Manager Support Score", "integer", "feature", 1, 5),
    Column("Deadline Pressure Score", "integer", "feature", 1, 5),
    Column("Team Size", "integer", "feature", 1, 500),
    Column("Recognition Frequency", "integer", "feature", 0, 5),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
RAW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
TARGET: str = next(c.name for c in COLUMNS if c.role == "target")
FEATURES: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.role == "feature")
DROPPED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.role in ("id", "dropped"))
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(
    BY_NAME[n].name for n in FEATURES if BY_NAME[n].kind == "category"
)
NUMERIC_FEATURES: tuple[str, ...] = tuple(n for n in FEATURES if BY_NAME[n].is_numeric)
NULLABLE_FEATURES: tuple[str, ...] = tuple(n for n in FEATURES if BY_NAME[n].nullable)

# Target classes, in order of increasing risk, with the upper bound (exclusive) of Burn Rate for each.
CLASSES: tuple[str, ...] = ("Low", "Medium", "High")
CLASS_UPPER_BOUNDS: tuple[float, ...] = (0.33, 0.66, float("inf"))


def burn_rate_to_class(burn_rate: float) -> str:
    """Map a Burn Rate to its risk class: < 0.33 Low, < 0.66 Medium, else High."""
    for label, upper in zip(CLASSES, CLASS_UPPER_BOUNDS, strict=True):
        if burn_rate < upper:
            return label
    raise AssertionError("unreachable: the last bound is infinite")
