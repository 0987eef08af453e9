"""PUT and DELETE /aliases/challenger: protected by the reload token, the body checked with the field named,
the store asked to move the alias and the core refreshed at once; and ModelStore.set_alias/delete_alias on a
real (SQLite) registry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InvalidInput, UnknownModel
from burnout_api.main import create_app
from tests.unit.api.conftest import FakeStore

TOKEN = {"Authorization": "Bearer s3cret"}


class AliasStore(FakeStore):
    """FakeStore that also moves aliases, refusing unknown versions and the champion as challenger."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changes: list[tuple] = []

    def set_alias(self, alias: str, version: int) -> dict[str, int]:
        self.changes.append(("set", alias, version))
        if not self.reachable:
            raise ConnectionError("MLflow is down")
        if version not in self.pipelines:
            raise UnknownModel(f"registered model 'burnout-risk' has no version {version}")
        if self.aliases.get("champion") == version:
            from burnout_api.validation import FieldError

            raise InvalidInput([FieldError(None, "version", "champion_version", "is the champion")])
        self.aliases[alias] = version
        return dict(self.aliases)

    def delete_alias(self, alias: str) -> dict[str, int]:
        self.changes.append(("delete", alias))
        self.aliases.pop(alias, None)
        return dict(self.aliases)


@pytest.fixture
def store(lightgbm_pipeline, knn_pipeline):
    return AliasStore({1: lightgbm_pipeline, 2: knn_pipeline}, {"champion": 1})


@pytest.fixture
def client_for(make_settings):
    clients = []

    def build(store, **overrides) -> TestClient:
        from burnout_api.core import InferenceCore

        settings = make_settings(**overrides)
        client = TestClient(create_app(settings, InferenceCore(settings, store=store)))
        client.__enter__()
        client.app.state.core.refresh()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for, store) -> TestClient:
    return client_for(store, reload_token="s3cret")


def test_both_need_the_reload_token(client, store):
    assert client.put("/aliases/challenger", json={"version": 2}).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    answer = client.delete("/aliases/challenger", headers=wrong)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert "DELETE /aliases/challenger needs header 'Authorization: Bearer" in answer.json()["message"]
    # Refused before the body is read: a bad body without the token is still 401.
    assert client.put("/aliases/challenger", json={"version": "x"}).status_code == 401
    assert store.changes == []


def test_forbidden_when_the_service_has_no_token(client_for, store):
    client = client_for(store)
    answer = client.put("/aliases/challenger", json={"version": 2}, headers=TOKEN)
    assert answer.status_code == 403 and "PUT /aliases/challenger is disabled" in answer.json()["message"]


def test_put_sets_the_challenger_and_the_core_serves_it_at_once(client, store):
    answer = client.put("/aliases/challenger", json={"version": 2}, headers=TOKEN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["alias"] == "challenger" and body["version"] == 2
    assert body["aliases"] == {"champion": 1, "challenger": 2}
    assert store.changes == [("set", "challenger", 2)]
    served = {model["alias"]: model for model in body["models"]}
    assert served["challenger"]["version"] == 2
    assert client.app.state.core.snapshot.registry["challenger"] == 2


def test_delete_clears_the_challenger(client, store):
    store.aliases["challenger"] = 2
    client.app.state.core.refresh()
    answer = client.delete("/aliases/challenger", headers=TOKEN)
    assert answer.status_code == 200 and answer.json()["version"] is None
    assert answer.json()["aliases"] == {"champion": 1} and store.changes == [("delete", "challenger")]
    assert "challenger" not in client.app.state.core.snapshot.registry


@pytest.mark.parametrize(
    "body",
    [{}, {"version": "7"}, {"version": 0}, {"version": -3}, {"version": True}, {"version": 1.5}],
    ids=["missing", "string", "zero", "negative", "bool", "float"],
)
def test_bad_body_is_422_naming_version(client, store, body):
    answer = client.put("/aliases/challenger", json=body, headers=TOKEN)
    assert answer.status_code == 422, answer.text
    assert [item["field"] for item in answer.json()["detail"]] == ["version"]
    assert store.changes == []


def test_unknown_field_and_non_object_bodies_are_422(client, store):
    answer = client.put("/aliases/challenger", json={"version": 2, "alias": "x"}, headers=TOKEN)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "alias"
    assert client.put("/aliases/challenger", json=[2], headers=TOKEN).status_code == 422
    malformed = client.put("/aliases/challenger", content=b"{version", headers=TOKEN)
    assert malformed.status_code == 400 and store.changes == []


def test_unknown_version_is_404_and_the_champion_is_refused_422(client, store):
    assert client.put("/aliases/challenger", json={"version": 9}, headers=TOKEN).status_code == 404
    champion = client.put("/aliases/challenger", json={"version": 1}, headers=TOKEN)
    assert champion.status_code == 422 and champion.json()["detail"][0]["field"] == "version"
    assert "challenger" not in store.aliases


def test_unreachable_registry_is_503_and_changes_nothing(client, store):
    store.reachable = False
    answer = client.put("/aliases/challenger", json={"version": 2}, headers=TOKEN)
    assert answer.status_code == 503 and "unchanged" in answer.json()["message"]


def test_openapi_documents_both_operations(client):
    paths = client.get("/openapi.json").json()["paths"]["/aliases/challenger"]
    assert paths["put"]["summary"] and paths["delete"]["summary"]
    assert {"200", "401", "403", "404", "422"} <= set(paths["put"]["responses"])
    schema = paths["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["version"]


# ModelStore on a real registry ----------------------------------------------------------------------------
@pytest.fixture
def model_store(make_settings, tmp_path):
    """A ModelStore over a SQLite registry with v1 (champion) and v2, both cheap (no model behind them)."""
    import mlflow

    from burnout_api.core.model_store import ModelStore
    from burnout_base.tracking import configure_mlflow

    settings = make_settings(registered_model_name="alias-test")
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    client.create_registered_model(settings.registered_model_name)
    for version in (1, 2):
        (tmp_path / f"m{version}").mkdir()
        client.create_model_version(settings.registered_model_name, str(tmp_path / f"m{version}"))
    client.set_registered_model_alias(settings.registered_model_name, "champion", "1")
    return ModelStore(settings)


def test_model_store_sets_and_deletes_an_alias(model_store):
    assert model_store.set_alias("challenger", 2) == {"champion": 1, "challenger": 2}
    assert model_store.fetch_aliases() == {"champion": 1, "challenger": 2}
    assert model_store.delete_alias("challenger") == {"champion": 1}
    assert model_store.delete_alias("challenger") == {"champion": 1}  # already gone: nothing to do
    assert model_store.fetch_aliases() == {"champion": 1}


def test_model_store_refuses_unknown_versions_and_the_champion(model_store):
    with pytest.raises(UnknownModel, match="no version 9"):
        model_store.set_alias("challenger", 9)
    with pytest.raises(InvalidInput) as refused:
        model_store.set_alias("challenger", 1)
    assert refused.value.errors[0].field == "version" and "champion" in str(refused.value)
    assert model_store.fetch_aliases() == {"champion": 1}
