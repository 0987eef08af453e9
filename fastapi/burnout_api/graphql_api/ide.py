"""GraphiQL at GET /graphql with its JavaScript and CSS (GraphiQL, React) served by the service itself, not
unpkg as strawberry's own page does, and opened on a predict query for the example record, ready to run.
The assets are the static files of the pinned `graphene-django-graphiql-static` package (no Django needed)."""

from __future__ import annotations

import json
from importlib.resources import files

from fastapi.staticfiles import StaticFiles

from burnout_api.features import FEATURE_FIELDS
from burnout_api.schemas import EXAMPLE_RECORD
from fastapi import FastAPI

GRAPHIQL_ASSETS_PATH = "/static/graphiql"
GRAPHIQL_SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
EXAMPLE_QUERY = """# The employee is in Variables below. Run with ▶ (Ctrl-Enter).
query Predict($records: [EmployeeInput!]!) {
  predict(records: $records) {
    model { alias version family }
    predictions {
      class
      probabilities { Low Medium High }
    }
  }
}
"""
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Burnout risk API - GraphiQL</title>
  <style>html, body, #graphiql {{ height: 100%; margin: 0; overflow: hidden; width: 100%; }}</style>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
{scripts}
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: window.location.pathname }});
    ReactDOM.render(
      React.createElement(GraphiQL, {{
        fetcher: fetcher,
        defaultQuery: {query},
        query: {query},
        variables: {variables},
        defaultEditorToolsVisibility: "variables",
      }}),
      document.getElementById("graphiql"),
    );
  </script>
</body>
</html>
"""


def example_variables() -> dict[str, list[dict[str, object]]]:
    """The example record (REST's, in the dataset's column names) under GraphQL's field names."""
    return {"records": [{f.key: EXAMPLE_RECORD[f.name] for f in FEATURE_FIELDS if f.name in EXAMPLE_RECORD}]}


def render_graphiql_page() -> str:
    tags = (f'  <script src="{GRAPHIQL_ASSETS_PATH}/{name}"></script>' for name in GRAPHIQL_SCRIPTS)
    scripts = "\n".join(tags)
    # json.dumps makes safe JS literals; "</" is escaped so no value can close the <script> element.
    literal = lambda value: json.dumps(value).replace("</", "<\\/")  # noqa: E731
    return PAGE.format(
        assets=GRAPHIQL_ASSETS_PATH,
        scripts=scripts,
        query=literal(EXAMPLE_QUERY),
        variables=literal(json.dumps(example_variables(), indent=2)),
    )


def mount_graphiql_assets(app: FastAPI) -> None:
    directory = files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
    app.mount(GRAPHIQL_ASSETS_PATH, StaticFiles(directory=str(directory)), name="graphiql-assets")
