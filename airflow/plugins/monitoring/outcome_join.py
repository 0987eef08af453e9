"""The join of live predictions with their outcomes: the logged predictions of a window joined with the
outcomes posted later (monitoring.feedback).

`join_outcomes` matches an outcome to prediction rows by (request_id, record_index) when it names a request (a
missing record index is 0), else by employee_id with logged_at within [window_start, window_end]. The same
outcome posted twice (same match key, same observed class and Burn Rate) counts once; a prediction row keeps
one outcome, the latest received when several differ. Served and shadow rows are labelled alike (a null role
is served).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring import feedback as fb
from monitoring.prediction_log import EMPLOYEE_ID, LOGGED_AT, RECORD_INDEX, REQUEST_ID, ROLE, SERVED

DELAY_S = "delay_s"
_OUTCOME = "_outcome"  # an outcome's position among the deduplicated feedback rows
_ROW = "_row"  # a prediction row's position in the window
_DEDUP_KEY = [
    REQUEST_ID,
    RECORD_INDEX,
    EMPLOYEE_ID,
    fb.WINDOW_START,
    fb.WINDOW_END,
    fb.OBSERVED_CLASS,
    fb.BURN_RATE,
]
_OUTCOME_COLUMNS = [fb.FEEDBACK_ID, fb.RECEIVED_AT, fb.OBSERVED_CLASS, fb.BURN_RATE]


def join_outcomes(predictions: pd.DataFrame, feedback: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labelled prediction rows, unmatched outcomes); see the module docstring for the rules. A labelled row
    keeps the prediction's columns (role filled: served) plus feedback_id, received_at, observed_class,
    burn_rate and delay_s (received_at - logged_at, seconds), in the predictions' order."""
    predictions = predictions.reset_index(drop=True).copy()
    predictions[ROLE] = predictions[ROLE].fillna(SERVED)
    predictions[_ROW] = np.arange(len(predictions))
    outcomes = feedback.reset_index(drop=True).copy()
    by_request = outcomes[REQUEST_ID].notna()
    index = pd.to_numeric(outcomes[RECORD_INDEX]).astype("float64")
    outcomes[RECORD_INDEX] = index.fillna(0).where(by_request)
    # Only the columns of its match key count: an outcome by request ignores any employee it names.
    outcomes[EMPLOYEE_ID] = outcomes[EMPLOYEE_ID].where(~by_request)
    for name in (fb.WINDOW_START, fb.WINDOW_END):
        outcomes[name] = outcomes[name].where(~by_request)
    outcomes = outcomes.sort_values(fb.RECEIVED_AT, kind="stable")
    outcomes = outcomes.drop_duplicates(_DEDUP_KEY, keep="first").reset_index(drop=True)
    outcomes[_OUTCOME] = np.arange(len(outcomes))

    requested = outcomes[outcomes[REQUEST_ID].notna()].astype({RECORD_INDEX: "int64"})
    by_id = requested[[REQUEST_ID, RECORD_INDEX, _OUTCOME]].merge(
        predictions[[REQUEST_ID, RECORD_INDEX, _ROW]].astype({RECORD_INDEX: "int64"}),
        on=[REQUEST_ID, RECORD_INDEX],
    )
    windowed = outcomes[outcomes[REQUEST_ID].isna() & outcomes[EMPLOYEE_ID].notna()]
    by_employee = windowed[[EMPLOYEE_ID, fb.WINDOW_START, fb.WINDOW_END, _OUTCOME]].merge(
        predictions.loc[predictions[EMPLOYEE_ID].notna(), [EMPLOYEE_ID, LOGGED_AT, _ROW]], on=EMPLOYEE_ID
    )
    inside = (by_employee[LOGGED_AT] >= by_employee[fb.WINDOW_START]) & (
        by_employee[LOGGED_AT] <= by_employee[fb.WINDOW_END]
    )
    matches = pd.concat([by_id[[_ROW, _OUTCOME]], by_employee.loc[inside, [_ROW, _OUTCOME]]])
    matches = matches.merge(outcomes[[_OUTCOME, *_OUTCOME_COLUMNS]], on=_OUTCOME)
    # The latest received outcome wins (the later post among ties).
    matches = matches.sort_values([fb.RECEIVED_AT, _OUTCOME], kind="stable").drop_duplicates(
        _ROW, keep="last"
    )

    labelled = predictions.merge(matches.drop(columns=_OUTCOME), on=_ROW).sort_values(_ROW)
    labelled[DELAY_S] = (labelled[fb.RECEIVED_AT] - labelled[LOGGED_AT]).dt.total_seconds()
    labelled = labelled.drop(columns=_ROW).reset_index(drop=True)
    matched = set(by_id[_OUTCOME]) | set(by_employee.loc[inside, _OUTCOME])
    unmatched = outcomes[~outcomes[_OUTCOME].isin(matched)].drop(columns=_OUTCOME).reset_index(drop=True)
    return labelled, unmatched
