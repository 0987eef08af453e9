"""Behavioural tests of the trained model on real TEST records, after CheckList (Ribeiro et al. 2020):
directional expectations (more fatigue or workload never lowers the risk of High), invariance (gender and the
employee id do not decide the class) and minimum functionality (clear-cut records get their class).

The model is the served kind: the ETL publishes the real dataset, `train_family` trains the family (its first
trial is the family's starting parameters) and registers it, and the registered Pipeline is loaded back. Run
with `pytest -s` to see the measured numbers each bound is set from.

Only LightGBM, the champion, is held to these expectations; the other families fail some of them, measured on
the same data with the same bounds. A Gender flip changes the class of 8.7% of TEST records for KNN and 2.3%
for SVM: in the scaled, one-hot encoded space a flip moves a record as far as 1.4 standard deviations of a
numeric feature, and both measure distances there. KNN also loses up to 0.09 of P(High) when Resource
Allocation rises by one, and its P(High) rises by only 0.39 on average over the whole fatigue range.

Sleep Hours gets no directional test: the data does not support one. It is one of the synthetic "enriched"
columns, which only mark whether Burn Rate is below or above about 0.45: among records with Burn Rate >= 0.45,
P(High) is the same (29-30%) whatever the sleep, and given Mental Fatigue Score and Resource Allocation its
linear effect on Burn Rate is -0.003 per standard deviation (fatigue: +0.125). The model's P(High) moves by
-0.0003 on average when every record sleeps an hour less; asserting a direction would test noise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from burnout_api.validation import parse_records
from burnout_base.settings import Settings
from etl.contract import BY_NAME, FEATURES
from etl.dataset import load_dataset
from etl.run_etl import run_etl
from modeling.model_io import load_model
from modeling.train import train_family
from tests.integration.behaviour_support import (
    CLEAR_CUT_CASES,
    ModelUnderTest,
    frame_of_records,
    largest_dips,
    raise_feature,
    swap_category,
    sweep_probability,
)

pytestmark = pytest.mark.slow

FATIGUE = "Mental Fatigue Score"
ALLOCATION = "Resource Allocation"
ID_COLUMN = next(c.name for c in BY_NAME.values() if c.role == "id")
SWEEP_RECORDS = 500
SWEEP_SEED = 0
# Sweeping fatigue over its whole range (0 to 10, all else fixed), LightGBM's P(High) falls by at most 0.121
# on the 500 records (0.136 over all 4,288 TEST records). The falls sit where no employee is: low fatigue
# with high allocation (no record has Resource Allocation > 7 and fatigue <= 4), where an unconstrained tree
# model extrapolates freely. 0.2 leaves room for another library version's trees; a model that read fatigue
# backwards would fall by ~0.97.
SWEEP_DIP_TOLERANCE = 0.2
# Over the sweep P(High) rises by 0.966 on average: fatigue must matter, not merely never hurt.
SWEEP_MIN_MEAN_RISE = 0.5
# Nudging a real record up (staying near the data), the worst fall of P(High) over all TEST records is 0.014
# (fatigue +0.5; +1 and +2: 0.001; allocation +1 and +2: 0.004). 0.03 is twice the worst.
NUDGE_DIP_TOLERANCE = 0.03
# The mean rise of P(High) per nudge is 0.05 to 0.29: a model that ignored the feature would rise by 0.
NUDGE_MIN_MEAN_RISE = 0.02
# Flipping Female <-> Male changes LightGBM's class for 8 of 4,288 TEST records (0.19%). Given fatigue,
# allocation and seniority, the data has no gender effect to learn (linear effect on Burn Rate +0.002 per
# standard deviation; the raw gap of 0.06 is men's higher fatigue and allocation), so the flips are records
# on a class boundary. 1% is five times the measurement and well below KNN's 8.7%.
GENDER_MAX_CHANGED_SHARE = 0.01
# LightGBM gives each clear-cut record its class with probability >= 0.998.
CLEAR_CUT_MIN_PROBABILITY = 0.9


@pytest.fixture(scope="module", params=["lightgbm"])
def model(request, real_dataset, tmp_path_factory) -> ModelUnderTest:
    """The family trained on the real dataset and loaded back from the registry, with the TEST records."""
    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("behaviour") / "home", cv_folds=2)
    settings.ensure_home()
    run_etl(str(real_dataset), settings)
    train_family(request.param, settings, trials=1)
    pipeline = load_model(f"models:/{settings.registered_model_name}@{request.param}")
    return ModelUnderTest(request.param, pipeline, load_dataset(settings).test_raw[list(FEATURES)])


def test_raising_fatigue_over_its_range_never_lowers_high_risk(model):
    records = model.holdout_records.sample(SWEEP_RECORDS, random_state=SWEEP_SEED)
    values = np.linspace(BY_NAME[FATIGUE].minimum, BY_NAME[FATIGUE].maximum, 21)
    high = sweep_probability(model, records, FATIGUE, values, "High")
    dips = largest_dips(high)
    mean_rise = float((high[-1] - high[0]).mean())
    print(
        f"\n{model.family}: {FATIGUE} 0 -> 10 on {len(records)} TEST records: largest fall of P(High) "
        f"{dips.max():.4f} (99th percentile {np.quantile(dips, 0.99):.4f}), mean rise {mean_rise:.3f}"
    )
    assert dips.max() <= SWEEP_DIP_TOLERANCE
    assert mean_rise >= SWEEP_MIN_MEAN_RISE


@pytest.mark.parametrize(
    ("column", "step"), [(FATIGUE, 0.5), (FATIGUE, 1), (FATIGUE, 2), (ALLOCATION, 1), (ALLOCATION, 2)]
)
def test_nudging_workload_up_never_lowers_high_risk(model, column, step):
    records = model.holdout_records[model.holdout_records[column].notna()]
    before = model.probability(records, "High")
    after = model.probability(raise_feature(records, column, step), "High")
    worst_fall = float((before - after).max())
    mean_rise = float((after - before).mean())
    print(
        f"\n{model.family}: {column} +{step} on {len(records)} TEST records: worst fall of P(High) "
        f"{worst_fall:.4f}, mean rise {mean_rise:.4f}"
    )
    assert worst_fall <= NUDGE_DIP_TOLERANCE
    assert mean_rise >= NUDGE_MIN_MEAN_RISE


def test_flipping_gender_rarely_changes_the_class(model):
    records = model.holdout_records
    before = model.predict(records)
    after = model.predict(swap_category(records, "Gender"))
    changed = int((before != after).sum())
    share = changed / len(records)
    print(f"\n{model.family}: Gender flipped: class changed for {changed}/{len(records)} ({share:.2%})")
    assert share <= GENDER_MAX_CHANGED_SHARE


def test_model_ignores_the_employee_id(model):
    records = model.holdout_records.head(500)
    ids = [f"fffe{index:08x}" for index in range(len(records))]
    expected = model.pipeline.predict_proba(records)
    with_ids = records.assign(**{ID_COLUMN: ids})
    other_ids = with_ids.assign(**{ID_COLUMN: ids[::-1]})[[ID_COLUMN, *FEATURES]]  # also moved to the front
    assert np.array_equal(model.pipeline.predict_proba(with_ids), expected)
    assert np.array_equal(model.pipeline.predict_proba(other_ids), expected)


def test_the_api_takes_the_employee_id_apart_from_the_model_inputs(model):
    record = json.loads(model.holdout_records.dropna().head(1).to_json(orient="records"))[0]
    plain = parse_records(json.dumps([record]).encode(), max_batch=1)
    named = parse_records(json.dumps([{**record, ID_COLUMN: "fffe32003000"}]).encode(), max_batch=1)
    assert named.employee_ids == ["fffe32003000"] and plain.employee_ids is None
    assert (
        np.array_equal(named.numeric, plain.numeric, equal_nan=True)
        and named.categorical == plain.categorical
    )


@pytest.mark.parametrize(("name", "record", "expected"), CLEAR_CUT_CASES, ids=[c[0] for c in CLEAR_CUT_CASES])
def test_clear_cut_record_gets_its_class(model, name, record, expected):
    records = frame_of_records([record])
    probability = float(model.probability(records, expected)[0])
    predicted = model.predict(records)[0]
    print(f"\n{model.family}: clear-cut {name}: predicted {predicted}, P({expected}) = {probability:.4f}")
    assert predicted == expected
    assert probability >= CLEAR_CUT_MIN_PROBABILITY
