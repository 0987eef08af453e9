"""POST /feedback and gRPC `Feedback`: ground truth posted late, checked and stored in the lake
(`monitoring.feedback`).

An outcome names its prediction by `request_id` (and `record_index`, default 0), or by `Employee ID` with a
time window (`from`, and `to`, default now); it carries the observed `Burn Rate` (checked against the data
contract's range) or only the `class`, or both when they agree. Every outcome is checked before any is stored:
a batch with one bad outcome stores none, and the error names each record and field. Nothing is matched
here: `model_quality` joins outcomes with the prediction log later (the log is buffered and replicas are
separate), removes duplicates and reports what matched nothing.
"""

from __future__ import annotations

import math
import secrets
import threading
from datetime import UTC, datetime

import pyarrow as pa

from burnout_api.core.errors import LakeUnavailable
from burnout_api.core.request_ids import MAX_REQUEST_ID_CHARS
from burnout_api.features import EMPLOYEE_ID, MAX_EMPLOYEE_ID_CHARS
from burnout_api.validation import (
    MAX_REPORTED_ERRORS,
    FieldError,
    InvalidInput,
    check_batch_size,
)
from burnout_base.settings import Settings
from etl.contract import BY_NAME, CLASSES, TARGET, burn_rate_to_class
from monitoring import feedback as stored

REQUEST_ID, RECORD_INDEX, WINDOW_FROM, WINDOW_TO, CLASS = "request_id", "record_index", "from", "to", "class"
FIELDS = (REQUEST_ID, RECORD_INDEX, EMPLOYEE_ID, WINDOW_FROM, WINDOW_TO, TARGET, CLASS)
_BURN_RATE = BY_NAME[TARGET]


def check_outcomes(outcomes: object, max_batch: int, now: datetime | None = None) -> pa.Table:
    """Outcomes (a JSON array of objects) as rows of `monitoring.feedback.SCHEMA`, or InvalidInput naming
    every problem (record and field)."""
    if not isinstance(outcomes, list):
        raise InvalidInput([FieldError(None, None, "not_a_list", "expected a JSON array of outcomes")])
    if not outcomes:
        raise InvalidInput([FieldError(None, None, "empty_batch", "send at least one outcome")])
    check_batch_size(len(outcomes), max_batch)
    now = now or datetime.now(UTC)
    errors: list[FieldError] = []
    rows = []
    for index, outcome in enumerate(outcomes):
        if type(outcome) is not dict:
            errors.append(FieldError(index, None, "not_an_outcome", "expected an object"))
        else:
            rows.append(_check_outcome(outcome, index, now, errors))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise InvalidInput(errors[:MAX_REPORTED_ERRORS])
    batch_id = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    columns = {
        name: [row[name] for row in rows] for name in stored.SCHEMA.names if name != stored.FEEDBACK_ID
    }
    columns[stored.FEEDBACK_ID] = [batch_id] * len(rows)
    return pa.table({name: columns[name] for name in stored.SCHEMA.names}, schema=stored.SCHEMA)


def _check_outcome(outcome: dict, index: int, now: datetime, errors: list[FieldError]) -> dict:
    def refuse(field: str | None, kind: str, message: str) -> None:
        errors.append(FieldError(index, field, kind, message))

    for name in outcome.keys() - set(FIELDS):
        expected = ", ".join(repr(f) for f in FIELDS)
        refuse(str(name)[:60], "unknown_field", f"is not an outcome field; the fields are {expected}")
    row = {name: None for name in stored.SCHEMA.names}
    row[stored.RECEIVED_AT] = now
    request_id, employee_id = outcome.get(REQUEST_ID), outcome.get(EMPLOYEE_ID)
    if (request_id is None) == (employee_id is None):
        refuse(
            None, "no_match_key", f"name the prediction by {REQUEST_ID!r} or by {EMPLOYEE_ID!r} (one of them)"
        )
    elif request_id is not None:
        row[stored.REQUEST_ID] = _text(request_id, REQUEST_ID, MAX_REQUEST_ID_CHARS, refuse)
        row[stored.RECORD_INDEX] = _record_index(outcome.get(RECORD_INDEX, 0), refuse)
        for name in (WINDOW_FROM, WINDOW_TO):
            if name in outcome:
                refuse(name, "not_with_request_id", f"a window goes with {EMPLOYEE_ID!r}, not {REQUEST_ID!r}")
    else:
        row[stored.EMPLOYEE_ID] = _text(employee_id, EMPLOYEE_ID, MAX_EMPLOYEE_ID_CHARS, refuse)
        start = _moment(outcome.get(WINDOW_FROM), WINDOW_FROM, refuse, required=True)
        end = _moment(outcome.get(WINDOW_TO), WINDOW_TO, refuse) or now
        if start is not None and start > end:
            refuse(WINDOW_FROM, "empty_window", f"is after {WINDOW_TO!r} ({end.isoformat()})")
        row[stored.WINDOW_START], row[stored.WINDOW_END] = start, end
        if RECORD_INDEX in outcome:
            refuse(RECORD_INDEX, "not_with_employee_id", f"a record index goes with {REQUEST_ID!r}")
    row[stored.BURN_RATE], row[stored.OBSERVED_CLASS] = _observed(outcome, refuse)
    return row


def _text(value: object, field: str, limit: int, refuse) -> str | None:
    if type(value) is str and 0 < len(value) <= limit:
        return value
    refuse(field, "invalid_text", f"must be a string of 1 to {limit} characters, got {_shown(value)}")
    return None


def _record_index(value: object, refuse) -> int | None:
    if type(value) is int and 0 <= value < 2**31:
        return value
    refuse(
        RECORD_INDEX, "invalid_index", f"must be an integer from 0 (the record's place), got {_shown(value)}"
    )
    return None


def _moment(value: object, field: str, refuse, required: bool = False) -> datetime | None:
    """An ISO 8601 date or time; without a zone, UTC."""
    if value is None:
        if required:
            refuse(field, "missing", "is required with an Employee ID: the window's start (ISO 8601)")
        return None
    try:
        moment = datetime.fromisoformat(value) if type(value) is str else None
    except ValueError:
        moment = None
    if moment is None:
        refuse(field, "invalid_time", f"must be an ISO 8601 date or time, got {_shown(value)}")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _observed(outcome: dict, refuse) -> tuple[float | None, str | None]:
    """(Burn Rate, class): the rate checked with the contract's range, the class from it unless sent."""
    rate, label = outcome.get(TARGET), outcome.get(CLASS)
    if rate is None and label is None:
        refuse(None, "no_outcome", f"send the observed {TARGET!r} or its {CLASS!r}")
        return None, None
    if rate is not None:
        low, high = _BURN_RATE.minimum, _BURN_RATE.maximum
        number = type(rate) in (int, float) and math.isfinite(rate)
        if not number or not low <= rate <= high:
            refuse(TARGET, "out_of_range", f"must be a number from {low:g} to {high:g}, got {_shown(rate)}")
            return None, None
        rate = float(rate)
    if label is not None and label not in CLASSES:
        refuse(CLASS, "unknown_category", f"must be one of {', '.join(CLASSES)}, got {_shown(label)}")
        return None, None
    if rate is not None and label is not None and burn_rate_to_class(rate) != label:
        refuse(CLASS, "disagrees", f"{TARGET} {rate:g} is {burn_rate_to_class(rate)}, not {label}")
        return None, None
    return rate, label if rate is None else burn_rate_to_class(rate)


def _shown(value: object) -> str:
    return repr(value)[:60]


class FeedbackStore:
    """Writes checked outcomes to `settings.feedback_bucket` (the lake made on first use), synchronously:
    the answer says they are stored only once they are."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lake = None
        self._lock = threading.Lock()

    def accept(self, outcomes: object) -> dict:
        """Check `outcomes` (decoded JSON), store them, and say how many and under which batch id."""
        table = check_outcomes(outcomes, self.settings.max_batch)
        try:
            keys = stored.write_feedback(self._lake_of(), self.settings.feedback_bucket, table)
        except Exception as exc:
            raise LakeUnavailable(
                f"the outcomes could not be stored (nothing was): {type(exc).__name__}"
            ) from exc
        return {
            "accepted": table.num_rows,
            "feedback_id": table[stored.FEEDBACK_ID][0].as_py(),
            "files": len(keys),
        }

    def _lake_of(self):
        with self._lock:
            if self._lake is None:
                from etl.lake import lake_from_settings

                self._lake = lake_from_settings(self.settings)
            return self._lake
