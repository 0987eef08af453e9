"""monitoring.outcome_join.join_outcomes against a join written here independently, with plain loops over
dicts: request-id and employee-window matches, outcomes posted twice, conflicting outcomes (the latest wins),
unmatched outcomes, shadow rows and rows of older files without a role."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from monitoring import feedback as fb
from monitoring import prediction_log as pl
from monitoring.live_figures import coverage_and_delay, paired_rows
from monitoring.outcome_join import DELAY_S, join_outcomes

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def prediction(request_id, record_index=0, hours=0.0, employee=None, role="served", version=1, answer="Low"):
    return {
        "request_id": request_id,
        "record_index": record_index,
        "logged_at": at(hours),
        "model_version": version,
        "predicted_class": answer,
        "employee_id": employee,
        "role": role,
    }


def by_request(request_id, record_index=0, received=24.0, observed="Low", burn_rate=None, post="f"):
    return {
        "feedback_id": post,
        "received_at": at(received),
        "request_id": request_id,
        "record_index": record_index,
        "observed_class": observed,
        "burn_rate": burn_rate,
    }


def by_employee(employee, start, end, received=24.0, observed="Low", burn_rate=None, post="f"):
    return {
        "feedback_id": post,
        "received_at": at(received),
        "employee_id": employee,
        "window_start": at(start),
        "window_end": at(end),
        "observed_class": observed,
        "burn_rate": burn_rate,
    }


def frames(predictions: list[dict], outcomes: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows as read_predictions and read_feedback give them (the schemas' types, nulls filled)."""
    return (
        pa.Table.from_pylist(predictions, schema=pl.SCHEMA).to_pandas(),
        pa.Table.from_pylist(outcomes, schema=fb.SCHEMA).to_pandas(),
    )


def reference_join(predictions: list[dict], outcomes: list[dict]) -> tuple[dict[int, dict], list[dict]]:
    """Prediction position -> its outcome, and the unmatched outcomes, by the rules in plain Python."""

    def key(o):
        if o.get("request_id") is not None:
            index = o.get("record_index") or 0
            return ("request", o["request_id"], index, o["observed_class"], o.get("burn_rate"))
        return (
            "employee",
            o.get("employee_id"),
            o.get("window_start"),
            o.get("window_end"),
            o["observed_class"],
            o.get("burn_rate"),
        )

    unique: dict[tuple, dict] = {}
    for outcome in sorted(outcomes, key=lambda o: o["received_at"]):
        unique.setdefault(key(outcome), outcome)  # a repeat counts once: the first received
    labels, used = {}, set()
    for position, p in enumerate(predictions):
        candidates = []
        for k, o in unique.items():
            if o.get("request_id") is not None:
                hit = p["request_id"] == o["request_id"] and p["record_index"] == (o.get("record_index") or 0)
            elif o.get("employee_id") is not None:
                hit = (
                    p.get("employee_id") == o["employee_id"]
                    and o["window_start"] <= p["logged_at"] <= o["window_end"]
                )
            else:
                hit = False
            if hit:
                candidates.append(o)
                used.add(k)
        if candidates:
            labels[position] = max(candidates, key=lambda o: o["received_at"])
    return labels, [o for k, o in unique.items() if k not in used]


def check_against_reference(predictions: list[dict], outcomes: list[dict]) -> pd.DataFrame:
    labelled, unmatched = join_outcomes(*frames(predictions, outcomes))
    expected, expected_unmatched = reference_join(predictions, outcomes)
    got = {
        (row.request_id, row.record_index, row.role): (row.observed_class, row.feedback_id)
        for row in labelled.itertuples()
    }
    want = {
        (predictions[i]["request_id"], predictions[i]["record_index"], predictions[i]["role"] or "served"): (
            o["observed_class"],
            o["feedback_id"],
        )
        for i, o in expected.items()
    }
    assert got == want
    assert len(labelled) == len(expected)
    assert sorted(unmatched[fb.FEEDBACK_ID]) == sorted(o["feedback_id"] for o in expected_unmatched)
    return labelled


def test_match_by_request_id_and_record_index_with_the_delay():
    predictions = [prediction("a", 0, answer="Low"), prediction("a", 1, hours=1, answer="High")]
    outcomes = [by_request("a", 1, received=25, observed="Medium", burn_rate=0.5)]

    labelled, unmatched = join_outcomes(*frames(predictions, outcomes))

    assert len(labelled) == 1 and unmatched.empty
    row = labelled.iloc[0]
    assert (row.request_id, row.record_index, row.observed_class, row.burn_rate) == ("a", 1, "Medium", 0.5)
    assert row[DELAY_S] == pytest.approx(24 * 3600)


def test_outcome_posted_twice_counts_once():
    predictions = [prediction("a"), prediction("b")]
    outcomes = [
        by_request("a", observed="High", burn_rate=0.8, received=10, post="first"),
        by_request("a", observed="High", burn_rate=0.8, received=30, post="again"),
        by_request("zzz", received=11, post="lost-1"),
        by_request("zzz", received=12, post="lost-2"),  # the same unmatched outcome, posted again
    ]

    labelled = check_against_reference(predictions, outcomes)
    _, unmatched = join_outcomes(*frames(predictions, outcomes))

    assert list(labelled["feedback_id"]) == ["first"]  # the repeat adds nothing, and the delay is the first's
    assert labelled[DELAY_S].iloc[0] == pytest.approx(10 * 3600)
    assert list(unmatched["feedback_id"]) == ["lost-1"]


def test_distinct_outcomes_for_one_prediction_the_latest_received_wins():
    predictions = [prediction("a", employee="e1")]
    outcomes = [
        by_request("a", observed="Low", received=5, post="early"),
        by_employee("e1", -1, 1, observed="High", received=9, post="late"),
        by_request("a", observed="Medium", received=7, post="middle"),
    ]

    labelled = check_against_reference(predictions, outcomes)

    assert list(labelled["observed_class"]) == ["High"] and list(labelled["feedback_id"]) == ["late"]


def test_employee_window_labels_the_employees_predictions_inside_it():
    predictions = [
        prediction("r1", hours=0, employee="e1"),
        prediction("r2", hours=5, employee="e1"),
        prediction("r3", hours=48, employee="e1"),  # after the window
        prediction("r4", hours=1, employee="e2"),  # another employee
        prediction("r5", hours=1),  # no employee id logged
    ]
    outcomes = [by_employee("e1", 0, 5, observed="Medium", burn_rate=0.4, post="w")]

    labelled = check_against_reference(predictions, outcomes)

    assert sorted(labelled["request_id"]) == ["r1", "r2"]  # both bounds included
    assert set(labelled["burn_rate"]) == {0.4}


def test_outcomes_matching_nothing_are_reported_unmatched():
    predictions = [prediction("a", employee="e1", hours=0)]
    outcomes = [
        by_request("a", record_index=3, post="wrong-index"),
        by_request("nobody", post="unknown-request"),
        by_employee("e1", 10, 20, post="outside-window"),
        by_employee("e9", -5, 5, post="unknown-employee"),
        by_request("a", post="ok"),
    ]

    check_against_reference(predictions, outcomes)
    labelled, unmatched = join_outcomes(*frames(predictions, outcomes))

    assert list(labelled["feedback_id"]) == ["ok"]
    assert set(unmatched["feedback_id"]) == {
        "wrong-index",
        "unknown-request",
        "outside-window",
        "unknown-employee",
    }


def test_shadow_rows_are_labelled_and_paired_with_their_served_row():
    predictions = [
        prediction("a", version=1, answer="Low"),
        prediction("a", version=2, role="shadow", answer="High"),
        prediction("b", version=1, answer="Low"),
        prediction("b", version=2, role="shadow", answer="Low"),
        prediction("c", version=1),  # served, no shadow row
        prediction("d", version=2, role="shadow"),  # shadow whose served row is outside the window
    ]
    outcomes = [by_request(r, observed="High", post=r) for r in ("a", "b", "c", "d")]

    labelled = check_against_reference(predictions, outcomes)
    pairs = paired_rows(labelled)

    assert len(labelled) == 6
    assert sorted(pairs["request_id"]) == ["a", "b"]
    assert set(pairs["model_version_served"]) == {1} and set(pairs["model_version_shadow"]) == {2}
    assert list(pairs.sort_values("request_id")["predicted_class_shadow"]) == ["High", "Low"]


def test_rows_without_a_role_count_as_served():
    predictions = [prediction("old", role=None), prediction("old", role="shadow", version=2)]
    outcomes = [by_request("old", post="o")]
    frame, feedback = frames(predictions, outcomes)
    assert frame["role"].isna().sum() == 1

    labelled, _ = join_outcomes(frame, feedback)
    coverage, delay = coverage_and_delay(frame, labelled)

    assert sorted(labelled["role"]) == ["served", "shadow"]
    assert len(paired_rows(labelled)) == 1
    assert coverage == 1.0 and delay["rows"] == 1


def test_a_missing_record_index_on_a_request_outcome_means_the_first_record():
    predictions = [prediction("a", 0), prediction("a", 1)]
    outcomes = [by_request("a", record_index=None, post="x")]

    labelled = check_against_reference(predictions, outcomes)

    assert list(labelled["record_index"]) == [0]


def test_coverage_and_delay_count_served_rows_only():
    predictions = [prediction(f"r{i}", hours=0) for i in range(4)]
    predictions += [prediction("r0", role="shadow", version=2)]
    outcomes = [by_request("r0", received=2), by_request("r1", received=10), by_request("r0", received=1)]
    frame, feedback = frames(predictions, outcomes)

    labelled, _ = join_outcomes(frame, feedback)
    coverage, delay = coverage_and_delay(frame, labelled)

    assert coverage == pytest.approx(2 / 4)
    assert delay["rows"] == 2
    assert delay["median_h"] == pytest.approx((1 + 10) / 2)  # r0 posted twice: the first received (1 h)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_logs_and_outcomes_match_the_reference(seed):
    rng = random.Random(seed)
    employees = [f"e{i}" for i in range(6)] + [None]
    classes = ["Low", "Medium", "High"]
    predictions = []
    for i in range(60):
        request, employee, hours = f"r{i // 3}", rng.choice(employees), rng.uniform(0, 72)
        predictions.append(prediction(request, i % 3, hours=hours, employee=employee))
        if rng.random() < 0.4:
            predictions.append(
                prediction(request, i % 3, hours=hours, employee=employee, role="shadow", version=2)
            )
    outcomes = []
    for j in range(50):
        observed = rng.choice(classes)
        burn_rate = rng.choice([None, 0.1, 0.5, 0.9])
        received = 100 + j  # distinct: the reference's "latest" is unambiguous
        if rng.random() < 0.5:
            o = by_request(f"r{rng.randrange(25)}", rng.randrange(4), received, observed, burn_rate, f"p{j}")
        else:
            start = rng.uniform(-10, 70)
            o = by_employee(
                rng.choice(employees[:-1]),
                start,
                start + rng.uniform(0, 20),
                received,
                observed,
                burn_rate,
                f"p{j}",
            )
        outcomes.append(o)
        if rng.random() < 0.2:  # posted again later: the same outcome
            outcomes.append({**o, "feedback_id": f"p{j}-again", "received_at": at(200 + j)})

    check_against_reference(predictions, outcomes)
