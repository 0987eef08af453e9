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


# The descriptions document the dataset and the API's inputs alike (OpenAPI, GraphQL). "Burnout" directions
# are what the data shows (correlation r with Burn Rate in the enriched dataset, 21,626 labelled rows), not
# causes. The columns from "Work Hours per Week" on are the dataset's synthetic enrichment of the original
# HackerEarth data, generated to correlate with Burn Rate: they describe no measured employee behaviour.
_SYNTHETIC = "Synthetic (the dataset's enrichment, not measured)"
COLUMNS: tuple[Column, ...] = (
    # The identifier and the dropped columns may be empty: records labelled from live feedback (etl.labelled)
    # have only what the service logged, and none of these is a model input.
    Column("Employee ID", "id", "id", description="Opaque employee identifier.", nullable=True),
    Column(
        "Date of Joining",
        "date",
        "dropped",
        description="ISO date (YYYY-MM-DD) the employee joined.",
        nullable=True,
    ),
    Column(
        "Gender",
        "category",
        "feature",
        categories=("Female", "Male"),
        description="Employee's gender as recorded. Mean Burn Rate 0.42 for Female, 0.48 for Male.",
    ),
    Column(
        "Company Type",
        "category",
        "feature",
        categories=("Product", "Service"),
        description="Whether the employer is a product or a service company. Same mean Burn Rate (0.45).",
    ),
    Column(
        "WFH Setup Available",
        "category",
        "feature",
        categories=("No", "Yes"),
        description="Whether the employee can work from home. Yes: lower burnout (mean Burn Rate 0.40 "
        "against 0.52).",
    ),
    Column(
        "Designation",
        "integer",
        "feature",
        0,
        5,
        description="Seniority level, 0 (most junior) to 5 (most senior); median 2. Higher: more burnout "
        "(r = +0.74).",
    ),
    Column(
        "Resource Allocation",
        "float",
        "feature",
        1,
        10,
        nullable=True,
        description="Amount of work allocated to the employee (in the source: working hours), 1 to 10; "
        "median 4. Higher: more burnout (r = +0.86). Missing in 6% of the data: the model imputes it.",
    ),
    Column(
        "Mental Fatigue Score",
        "float",
        "feature",
        0,
        10,
        nullable=True,
        description="Self-reported mental fatigue, 0 (none) to 10 (completely fatigued); median 5.9. "
        "Higher: more burnout, the strongest input (r = +0.95). Missing in 9% of the data: the model "
        "imputes it.",
    ),
    Column(
        "Burn Rate",
        "float",
        "target",
        0,
        1,
        nullable=True,
        description="Burnout rate, 0 (none) to 1 (burnt out). The risk class comes from it: below 0.33 "
        "Low, below 0.66 Medium, else High.",
    ),
    Column(
        "Years in Company",
        "integer",
        "dropped",
        0,
        60,
        description="Near-constant in the data.",
        nullable=True,
    ),
    Column(
        "Work Hours per Week",
        "integer",
        "feature",
        0,
        100,
        description=f"{_SYNTHETIC}: hours worked per week; 35 to 59 in the data, median 49. Higher: more "
        "burnout (r = +0.72).",
    ),
    Column(
        "Sleep Hours",
        "float",
        "feature",
        0,
        24,
        description=f"{_SYNTHETIC}: hours of sleep per night; 3.4 to 9.1 in the data, median 6.0. More "
        "sleep: less burnout (r = -0.66).",
    ),
    Column(
        "Work-Life Balance Score",
        "integer",
        "feature",
        1,
        5,
        description=f"{_SYNTHETIC}: work-life balance, 1 (poor) to 5 (good); median 2. Higher is better: "
        "less burnout (r = -0.71).",
    ),
    Column(
        "Manager Support Score",
        "integer",
        "feature",
        1,
        5,
        description=f"{_SYNTHETIC}: support from the manager, 1 (little) to 5 (much); median 3. Higher is "
        "better: less burnout (r = -0.61).",
    ),
    Column(
        "Deadline Pressure Score",
        "integer",
        "feature",
        1,
        5,
        description=f"{_SYNTHETIC}: deadline pressure, 1 (low) to 5 (high); median 4. Higher is worse: "
        "more burnout (r = +0.71).",
    ),
    Column(
        "Team Size",
        "integer",
        "feature",
        1,
        500,
        description=f"{_SYNTHETIC}: people in the employee's team; 3 to 19 in the data, median 11. "
        "Unrelated to Burn Rate (r = 0.00).",
    ),
    Column(
        "Recognition Frequency",
        "integer",
        "feature",
        0,
        5,
        description=f"{_SYNTHETIC}: how often the employee's work is recognised, 0 to 5 (higher: more "
        "often); median 1. Higher is better: less burnout (r = -0.70).",
    ),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
RAW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
TARGET: str = next(c.name for c in COLUMNS if c.role == "target")
IDENTIFIER: str = next(c.name for c in COLUMNS if c.role == "id")  # "Employee ID": never a model input
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
