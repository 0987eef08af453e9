"""GraphQL errors: ours carry their code; anything else is masked for the client and logged in full."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.main import create_app


def test_an_unexpected_error_is_masked_for_the_client_and_logged_with_its_traceback(
    make_settings, make_store, lightgbm_pipeline, caplog
):
    settings = make_settings()
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))

    def broken() -> list[dict]:
        raise RuntimeError("secret internals: /srv/models/token=abc")

    core.list_models = broken
    with TestClient(create_app(settings, core)) as client, caplog.at_level(logging.ERROR):
        answer = client.post("/graphql", json={"query": "{ models { alias } }"})

    error = answer.json()["errors"][0]
    assert answer.status_code == 200
    assert error["message"] == "internal error: the service logged it"
    assert error["extensions"] == {"code": "INTERNAL"}
    assert error["path"] == ["models"]
    assert "secret internals" not in answer.text
    logged = [r for r in caplog.records if r.exc_info and "secret internals" in str(r.exc_info[1])]
    assert logged, "the original error and its traceback go to the log"


def test_an_unknown_alias_keeps_its_message_and_code(make_settings, make_store, lightgbm_pipeline):
    settings = make_settings()
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    with TestClient(create_app(settings, core)) as client:
        core.refresh()
        answer = client.post("/graphql", json={"query": '{ model(alias: "nope") { alias } }'})

    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND" and "'nope'" in error["message"]
