"""The tuning budget: the trigger form wins over Airflow Variables, which win over settings.
Bad values are named."""

from __future__ import annotations

import pytest

from etl.errors import InputError
from modeling.budget import resolve_budget


def test_resolve_budget_prefers_form_then_variables_then_settings(make_settings):
    settings = make_settings(tuning_trials=7, tuning_timeout_s=100.0, tuning_workers=3)
    variables = {"trials": "4", "timeout_s": "30", "workers": "2"}

    assert resolve_budget(settings) == {"trials": 7, "timeout_s": 100.0, "workers": 3}
    assert resolve_budget(settings, variables=variables) == {"trials": 4, "timeout_s": 30.0, "workers": 2}
    assert resolve_budget(settings, 2, 5.0, variables, workers=1) == {
        "trials": 2,
        "timeout_s": 5.0,
        "workers": 1,
    }
    assert resolve_budget(settings, None, None, {"trials": "", "timeout_s": None})["trials"] == 7


def test_resolve_budget_names_the_bad_variable(make_settings):
    with pytest.raises(InputError, match="trials.*'many'"):
        resolve_budget(make_settings(), variables={"trials": "many"})


def test_resolve_budget_rejects_zero_trials(make_settings):
    with pytest.raises(InputError, match="at least 1"):
        resolve_budget(make_settings(), trials=0)


def test_resolve_budget_bounds_tuning_workers_and_names_them(make_settings):
    assert resolve_budget(make_settings())["workers"] == 1  # the embedded default: one process
    with pytest.raises(InputError, match="workers \\(tuning_workers\\) must be between 1 and 16, got 0"):
        resolve_budget(make_settings(), workers=0)
    with pytest.raises(InputError, match="workers.*'two'"):
        resolve_budget(make_settings(), variables={"workers": "two"})
    with pytest.raises(InputError, match="got 17"):
        resolve_budget(make_settings(), variables={"workers": "17"})
