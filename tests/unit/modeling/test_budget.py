"""The tuning budget: the trigger form wins over Airflow Variables, which win over settings.
Bad values are named."""

from __future__ import annotations

import pytest

from etl.errors import InputError
from modeling.budget import resolve_budget


def test_resolve_budget_prefers_form_then_variables_then_settings(make_settings):
    settings = make_settings(tuning_trials=7, tuning_timeout_s=100.0)
    variables = {"trials": "4", "timeout_s": "30"}

    assert resolve_budget(settings) == {"trials": 7, "timeout_s": 100.0}
    assert resolve_budget(settings, variables=variables) == {"trials": 4, "timeout_s": 30.0}
    assert resolve_budget(settings, 2, 5.0, variables) == {"trials": 2, "timeout_s": 5.0}
    assert resolve_budget(settings, None, None, {"trials": "", "timeout_s": None})["trials"] == 7


def test_resolve_budget_names_the_bad_variable(make_settings):
    with pytest.raises(InputError, match="trials.*'many'"):
        resolve_budget(make_settings(), variables={"trials": "many"})


def test_resolve_budget_rejects_zero_trials(make_settings):
    with pytest.raises(InputError, match="at least 1"):
        resolve_budget(make_settings(), trials=0)
