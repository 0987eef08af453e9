"""/models links each loaded version to its run page, model card and importance chart in the MLflow UI that
people open: BURNOUT_MLFLOW_UI_URL, else the tracking server; none for a local store; only what the run
logged."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from burnout_api.core.model_store import ModelStore, mlflow_ui_url
from modeling.registry_names import IMPORTANCE_CHART_ARTIFACT, MODEL_CARD_ARTIFACT


class FakeClient:
    """The two MlflowClient calls links make, over a run that logged `artifacts`."""

    def __init__(self, artifacts: list[str]):
        self.artifacts = artifacts

    def get_run(self, run_id: str):
        return SimpleNamespace(info=SimpleNamespace(experiment_id="7", run_id=run_id))

    def list_artifacts(self, run_id: str, path: str | None = None):
        prefix = f"{path}/" if path else ""
        below = {a[len(prefix) :].split("/")[0] for a in self.artifacts if a.startswith(prefix)}
        return [SimpleNamespace(path=prefix + name) for name in sorted(below)]


def links_for(settings, artifacts: list[str]) -> dict | None:
    store = ModelStore(settings)
    store._client = FakeClient(artifacts)
    return store._links("abc123")


@pytest.mark.parametrize(
    ("tracking", "ui", "expected"),
    [
        (None, None, None),  # the embedded SQLite store: no UI to link to
        ("http://mlflow:5000/", None, "http://mlflow:5000"),
        ("http://mlflow:5000", "http://localhost:5001/", "http://localhost:5001"),
    ],
)
def test_the_ui_url_is_the_setting_else_a_web_tracking_uri(make_settings, tracking, ui, expected):
    assert mlflow_ui_url(make_settings(mlflow_tracking_uri=tracking, mlflow_ui_url=ui)) == expected


def test_links_name_the_run_page_and_the_artifacts_the_run_logged(make_settings):
    settings = make_settings(mlflow_tracking_uri="http://mlflow:5000", mlflow_ui_url="http://localhost:5001")
    links = links_for(settings, [MODEL_CARD_ARTIFACT, IMPORTANCE_CHART_ARTIFACT, "model/MLmodel"])
    assert links["run"] == "http://localhost:5001/#/experiments/7/runs/abc123?workflowType=machine_learning"
    for name, path in (("model_card", MODEL_CARD_ARTIFACT), ("importance_chart", IMPORTANCE_CHART_ARTIFACT)):
        url = urlsplit(links[name])
        assert url.path == "/get-artifact"
        assert parse_qs(url.query) == {"path": [path], "run_uuid": ["abc123"]}
    # A version trained before model cards: its run page only.
    assert links_for(settings, ["model/MLmodel"]) == {"run": links["run"]}
    assert links_for(make_settings(), [MODEL_CARD_ARTIFACT]) is None
