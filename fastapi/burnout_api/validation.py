"""The check of incoming records against the data contract, shared by every protocol.

`validate_records` walks decoded records one by one: it gives the same verdicts as the request model in
`schemas` (both derive from the contract, and a test holds them together), finds every problem and names the
record index and the field of each, and turns the records straight into the arrays the model consumes.
REST bodies first try `parse_records`: msgspec decodes and checks them in one pass in C against a typed record
derived from the same contract; a body it refuses is decoded again and walked, so that errors always read the
same.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from numbers import Real
from operator import attrgetter
from typing import Annotated, Literal

import msgspec
import numpy as np
from msgspec import Meta

from burnout_api.error_codes import ErrorCode
from burnout_api.features import (
    CATEGORICAL_COLUMNS,
    EMPLOYEE_ID,
    EMPLOYEE_ID_KEY,
    FEATURE_FIELDS,
    MAX_EMPLOYEE_ID_CHARS,
    NUMERIC_COLUMNS,
    identifier_of,
)

MAX_REPORTED_ERRORS = 20
MAX_ALIAS_LENGTH = 255  # MLflow's own limit
_ALIAS = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ALIAS_LENGTH}}}")
_MISSING = object()
_FEATURE_NAMES = frozenset(f.name for f in FEATURE_FIELDS)
_ACCEPTED_NAMES = _FEATURE_NAMES | {EMPLOYEE_ID}
_EXPECTED = ", ".join(repr(f.name) for f in FEATURE_FIELDS) + f" (and, optionally, {EMPLOYEE_ID!r})"
# (name, minimum, maximum, must be integral, nullable) per numeric column, in the contract's order.
_NUMERIC_SPECS = tuple(
    (c.name, c.minimum, c.maximum, c.kind == "integer", c.nullable) for c in NUMERIC_COLUMNS
)
_CATEGORY_SPECS = tuple((c.name, frozenset(c.categories), c.categories) for c in CATEGORICAL_COLUMNS)
_decode = msgspec.json.Decoder().decode
_NUMBER_TYPES = {int, float, type(None)}


@dataclass(frozen=True)
class FieldError:
    """One problem with the input: which record (None = the whole batch), which field, what kind, in words."""

    record: int | None
    field: str | None
    type: str
    message: str

    def describe(self) -> str:
        where = [f"record {self.record}"] if self.record is not None else []
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class InvalidInput(ValueError):
    """The request cannot be scored as sent; `errors` lists every problem found (up to a cap)."""

    code = ErrorCode.INVALID_INPUT

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(errors[0].describe() + more)


@dataclass(frozen=True)
class RecordBatch:
    """Validated records as arrays: numeric columns (NaN = missing, to be imputed) and categorical values;
    `employee_ids`: each record's Employee ID (None: not sent), or None when no record had one."""

    numeric: np.ndarray
    categorical: list[tuple[str, ...]]
    employee_ids: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.categorical)

    @staticmethod
    def concat(batches: list[RecordBatch]) -> RecordBatch:
        """The records of `batches`, in order, as one batch."""
        ids = None
        if any(b.employee_ids is not None for b in batches):
            ids = [i for b in batches for i in (b.employee_ids or [None] * len(b))]
        categorical = [row for b in batches for row in b.categorical]
        return RecordBatch(np.vstack([b.numeric for b in batches]), categorical, ids)

    def select(self, mask: np.ndarray) -> RecordBatch:
        """The records where `mask` is True, in order."""
        rows = np.flatnonzero(mask)
        ids = None if self.employee_ids is None else [self.employee_ids[i] for i in rows]
        return RecordBatch(self.numeric[rows], [self.categorical[i] for i in rows], ids)


class MalformedBody(InvalidInput):
    """The body is not JSON at all (400), as opposed to JSON whose records break the contract (422)."""

    code = ErrorCode.MALFORMED_BODY


def decode_json(body: bytes) -> object:
    """Parse a request body; malformed JSON (invalid UTF-8 and deep nesting included) is the client's error
    like any other."""
    try:
        return _decode(body)  # about three times faster than the standard library
    except msgspec.DecodeError as exc:
        problem = str(exc)
    except UnicodeDecodeError:  # msgspec passes these two through from its C decoder
        problem = "a string is not valid UTF-8"
    except RecursionError:
        problem = "nested too deeply"
    # NaN and Infinity literals: only the standard library reads them, and the record check then names the
    # field. Anything else msgspec refused is refused with msgspec's words (they say where, in bytes).
    if b"NaN" in body or b"Infinity" in body:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    raise MalformedBody([FieldError(None, None, "invalid_json", f"the body is not valid JSON: {problem}")])


def _typed_record() -> type[msgspec.Struct]:
    """A msgspec record with the contract's columns, types, ranges and categories; nullable ones default to
    None. Integer columns take only JSON integers here (the walk also takes 2.0): stricter, never looser."""
    fields = []
    for column in NUMERIC_COLUMNS:
        base = int if column.kind == "integer" else float
        number = Annotated[base, Meta(ge=column.minimum, le=column.maximum)]
        if column.nullable:
            fields.append(
                (identifier_of(column.name), number | None, msgspec.field(name=column.name, default=None))
            )
        else:
            fields.append((identifier_of(column.name), number, msgspec.field(name=column.name)))
    for column in CATEGORICAL_COLUMNS:
        fields.append(
            (identifier_of(column.name), Literal[column.categories], msgspec.field(name=column.name))
        )
    employee_id = Annotated[str, Meta(min_length=1, max_length=MAX_EMPLOYEE_ID_CHARS)] | None
    fields.append((EMPLOYEE_ID_KEY, employee_id, msgspec.field(name=EMPLOYEE_ID, default=None)))
    fields.sort(key=lambda f: f[2].default is not msgspec.NODEFAULT)  # fields with defaults come last
    return msgspec.defstruct("Record", fields, forbid_unknown_fields=True)


_decode_typed = msgspec.json.Decoder(list[_typed_record()]).decode
_numeric_of = attrgetter(*(identifier_of(c.name) for c in NUMERIC_COLUMNS))
_categories_of = attrgetter(*(identifier_of(c.name) for c in CATEGORICAL_COLUMNS))
_employee_id_of = attrgetter(EMPLOYEE_ID_KEY)


def parse_records(body: bytes, max_batch: int) -> RecordBatch:
    """Decode and check a JSON body of records in one pass; anything it refuses gets `validate_records`'s
    verdict and errors."""
    try:
        records = _decode_typed(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        records = None
    if records is None or not 0 < len(records) <= max_batch:
        return validate_records(decode_json(body), max_batch)
    numeric = np.array(list(map(_numeric_of, records)), dtype=np.float64)  # None -> NaN
    return RecordBatch(
        numeric.reshape(len(records), len(NUMERIC_COLUMNS)),
        list(map(_categories_of, records)),
        _known_ids(list(map(_employee_id_of, records))),
    )


def _known_ids(ids: list[str | None]) -> list[str | None] | None:
    """The records' Employee IDs, or None when none was sent (the common case costs nothing downstream)."""
    return ids if any(ids) else None


def check_columns(columns: dict[str, list]) -> RecordBatch | None:
    """Records sent as columns (feature name -> one value per record; None = missing) as a `RecordBatch`, when
    every value is valid; else None, and the caller walks them as records with `validate_records`, whose
    errors name each problem. Vectorised: for a thousand records, a tenth of the walk's time. It accepts
    nothing the walk refuses: anything but int, float and None in a numeric column (booleans included) or a
    value outside a column's categories sends the batch to the walk."""
    try:
        count = len(columns[FEATURE_FIELDS[0].name])
        numeric = np.empty((count, len(_NUMERIC_SPECS)), dtype=np.float64)
        for j, (name, low, high, integral, nullable) in enumerate(_NUMERIC_SPECS):
            values = columns[name]
            if not set(map(type, values)) <= _NUMBER_TYPES:
                return None
            column = np.array(values, dtype=np.float64)  # None -> NaN
            missing = np.isnan(column)
            known = column[~missing]
            if missing.any() and (not nullable or int(missing.sum()) != values.count(None)):
                return None  # missing where it may not be, or a NaN sent as a value (the walk refuses it)
            if not np.isfinite(known).all():
                return None
            if (integral and (known != np.floor(known)).any()) or (known < low).any() or (known > high).any():
                return None
            numeric[:, j] = column
        categorical = [columns[name] for name, _, _ in _CATEGORY_SPECS]
        for values, (_, allowed, _) in zip(categorical, _CATEGORY_SPECS, strict=True):
            if not set(values) <= allowed or not set(map(type, values)) <= {str}:
                return None
        employee_ids = columns.get(EMPLOYEE_ID)
        if employee_ids is not None:
            if len(employee_ids) != count or not all(map(_is_employee_id, employee_ids)):
                return None
            employee_ids = _known_ids(list(employee_ids))
    except (OverflowError, TypeError, ValueError):  # an int too large for a float, an unhashable value, ...
        return None
    return RecordBatch(numeric, list(zip(*categorical, strict=True)), employee_ids)


def _is_employee_id(value: object) -> bool:
    return value is None or (type(value) is str and 0 < len(value) <= MAX_EMPLOYEE_ID_CHARS)


def check_alias(alias: str) -> None:
    """Refuse an alias MLflow could not have (its rule: letters, digits, '_' and '-'), before it reaches the
    registry or a log; only its start is quoted back."""
    if not _ALIAS.fullmatch(alias):
        shown = alias[:40] + ("..." if len(alias) > 40 else "")
        raise InvalidInput(
            [
                FieldError(
                    None,
                    "model",
                    "invalid_alias",
                    f"must be 1 to {MAX_ALIAS_LENGTH} letters, digits, '_' or '-', got {shown!r}",
                )
            ]
        )


def check_batch_size(count: int, max_batch: int) -> None:
    """Refuse a batch over the limit; adapters call it before converting any record."""
    if count > max_batch:
        raise InvalidInput(
            [
                FieldError(
                    None,
                    None,
                    "batch_too_large",
                    f"the batch has {count} records; the maximum is {max_batch}",
                )
            ]
        )


def check_explain_size(count: int, limit: int, method: str, setting: str) -> None:
    """Refuse explanations for a batch over their own, smaller limit, before any of them is computed."""
    if count > limit:
        raise InvalidInput(
            [
                FieldError(
                    None,
                    "explain",
                    "batch_too_large",
                    f"this model's explanations ({method}) are limited to {limit} records per request "
                    f"({setting}); the batch has {count}: send fewer, or ask without explain",
                )
            ]
        )


_FLAGS = dict.fromkeys(("true", "1", "yes", "on"), True) | dict.fromkeys(("false", "0", "no", "off"), False)


def parse_flag(value: str, field: str) -> bool:
    """A boolean query parameter (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case)."""
    flag = _FLAGS.get(value.strip().lower())
    if flag is None:
        raise InvalidInput(
            [FieldError(None, field, "not_a_boolean", f"must be true or false, got {value[:40]!r}")]
        )
    return flag


def validate_records(records: object, max_batch: int) -> RecordBatch:
    """Check a list of records (dicts keyed by dataset column names) and return them as a `RecordBatch`."""
    if not isinstance(records, list):
        raise InvalidInput(
            [FieldError(None, None, "not_a_list", "expected a JSON array of employee records")]
        )
    if not records:
        raise InvalidInput(
            [FieldError(None, None, "empty_batch", "the batch is empty: send at least one record")]
        )
    check_batch_size(len(records), max_batch)
    errors: list[FieldError] = []
    numeric_rows: list[list[float]] = []
    categorical_rows: list[tuple[str, ...]] = []
    employee_ids: list[str | None] = []
    for index, record in enumerate(records):
        if type(record) is not dict:
            errors.append(FieldError(index, None, "not_a_record", "expected an object of feature columns"))
        else:
            numeric_rows.append(_check_numeric(record, index, errors))
            categorical_rows.append(_check_categorical(record, index, errors))
            if record.keys() - _FEATURE_NAMES:
                _report_unknown(record, index, errors)
                employee_ids.append(_check_employee_id(record.get(EMPLOYEE_ID), index, errors))
            else:
                employee_ids.append(None)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise InvalidInput(errors[:MAX_REPORTED_ERRORS])
    return RecordBatch(np.array(numeric_rows, dtype=np.float64), categorical_rows, _known_ids(employee_ids))


def _check_employee_id(value: object, index: int, errors: list[FieldError]) -> str | None:
    """An optional Employee ID: a non-empty string of at most MAX_EMPLOYEE_ID_CHARS characters, or null."""
    if value is None or _is_employee_id(value):
        return value
    if type(value) is not str:
        message = f"must be a string (or null), got {_json_type(value)} {value!r}"[:200]
    else:
        message = f"must be 1 to {MAX_EMPLOYEE_ID_CHARS} characters, got {len(value)}"
    errors.append(FieldError(index, EMPLOYEE_ID, "invalid_employee_id", message))
    return None


def _check_numeric(record: dict, index: int, errors: list[FieldError]) -> list[float]:
    row = []
    for name, low, high, integral, nullable in _NUMERIC_SPECS:
        value = record.get(name, _MISSING)
        kind = type(value)
        if kind is not int and kind is not float:
            value = _odd_number(value, name, index, nullable, errors)
            if value is None:
                row.append(math.nan)
                continue
        # Python ints are exact and unbounded (math.isfinite overflows on 10**400): only floats need these.
        if type(value) is float and not math.isfinite(value):
            errors.append(FieldError(index, name, "not_finite", f"must be a finite number, got {value}"))
        elif integral and type(value) is float and not value.is_integer():
            errors.append(FieldError(index, name, "not_integer", f"must be an integer, got {value}"))
        elif not low <= value <= high:
            errors.append(
                FieldError(index, name, "out_of_range", f"must be between {low:g} and {high:g}, got {value}")
            )
        row.append(value)
    return row


def _odd_number(
    value: object, name: str, index: int, nullable: bool, errors: list[FieldError]
) -> float | None:
    """The rare cases off the hot path: absent, null, another number type, or not a number at all."""
    if value is _MISSING or value is None:
        if not nullable:
            kind, message = ("missing", "is required") if value is _MISSING else ("null", "may not be null")
            errors.append(FieldError(index, name, kind, message))
        return None
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    errors.append(
        FieldError(index, name, "wrong_type", f"must be a number, got {_json_type(value)} {value!r}")
    )
    return None


def _check_categorical(record: dict, index: int, errors: list[FieldError]) -> tuple[str, ...]:
    values = []
    for name, allowed, ordered in _CATEGORY_SPECS:
        value = record.get(name, _MISSING)
        if type(value) is str and value in allowed:
            values.append(value)
            continue
        if value is _MISSING:
            errors.append(FieldError(index, name, "missing", "is required"))
        elif value is None:
            errors.append(FieldError(index, name, "null", "may not be null"))
        elif not isinstance(value, str):
            errors.append(
                FieldError(index, name, "wrong_type", f"must be a string, got {_json_type(value)} {value!r}")
            )
        else:
            expected = ", ".join(repr(c) for c in ordered)
            errors.append(
                FieldError(index, name, "unknown_category", f"must be one of {expected}, got {value!r}")
            )
        values.append("")
    return tuple(values)


def _report_unknown(record: dict, index: int, errors: list[FieldError]) -> None:
    for name in record:
        if name not in _ACCEPTED_NAMES:
            errors.append(
                FieldError(
                    index, str(name), "unknown_column", f"is not a model input; the inputs are {_EXPECTED}"
                )
            )


def _json_type(value: object) -> str:
    names = {bool: "boolean", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
