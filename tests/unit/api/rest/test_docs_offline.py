"""/docs, /redoc and /graphql (GraphiQL) work without internet: every script and style they load is served
by the app itself, and answers."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from burnout_api.core import InferenceCore
from burnout_api.graphql_api.ide import EXAMPLE_QUERY, example_variables
from burnout_api.main import create_app

ASSET_REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def client(make_settings, make_store, lightgbm_pipeline):
    settings = make_settings()
    core = InferenceCore(settings, store=make_store({1: lightgbm_pipeline}, {"champion": 1}))
    with TestClient(create_app(settings, core)) as client:
        core.refresh()
        yield client


def assets_of(html: str) -> list[str]:
    """The URLs of the scripts, styles and icons a page loads (`url:` is Swagger UI's spec URL)."""
    return [url for url in ASSET_REFERENCE.findall(html) if not url.startswith("data:")]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/graphql"])
def test_docs_page_loads_every_asset_from_the_service(client, page):
    response = client.get(page, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = assets_of(response.text)
    assert [url for url in assets if re.match(r"(https?:)?//", url)] == []
    scripts_and_styles = [url for url in assets if url.endswith((".js", ".css"))]
    assert scripts_and_styles, "the page loads no script or style: not the page expected"
    for url in assets:
        answer = client.get(url)
        assert answer.status_code == 200, url
        kind = CONTENT_TYPES.get(url[url.rfind(".") :], "json" if url.endswith(".json") else "")
        assert kind in answer.headers["content-type"], (url, answer.headers["content-type"])


def test_graphiql_opens_on_a_predict_query_that_answers(client):
    page = client.get("/graphql", headers={"accept": "text/html"}).text
    assert json.dumps(EXAMPLE_QUERY) in page
    answer = client.post("/graphql", json={"query": EXAMPLE_QUERY, "variables": example_variables()})
    body = answer.json()
    assert answer.status_code == 200 and "errors" not in body, body
    assert body["data"]["predict"]["predictions"][0]["class"] in {"Low", "Medium", "High"}


def test_docs_pages_are_not_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc", "/graphql", "/static"))]
