"""/docs (Swagger UI) and /redoc served with their JavaScript and CSS from the service itself, not a CDN,
so they work on a machine without internet. The assets come from the pinned `fastapi-offline` package."""

from __future__ import annotations

from importlib.resources import files

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from burnout_api.schemas import CLASSES_DESCRIPTION
from burnout_base.settings import Settings
from fastapi import APIRouter, FastAPI

DOCS_ASSETS_PATH = "/static/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


def describe_api(settings: Settings) -> str:
    """The OpenAPI document's description (Markdown): what the service answers and what the classes mean."""
    return (
        "Burnout risk of employees from raw HR records. POST records in the dataset's column names to "
        "`/predict`; each gets its risk class and the probability of each class, and with `?explain=true` "
        "the features that moved it.\n\n"
        f"**Risk classes.** {CLASSES_DESCRIPTION}\n\n"
        "**Inputs.** The request schema of `/predict` describes every column: unit, range, median, which end "
        "goes with more burnout in the data. Resource Allocation and Mental Fatigue Score may be missing "
        "(null or left out): the model imputes them.\n\n"
        f"Served from the MLflow registered model `{settings.registered_model_name}`. The same predictions "
        f"at `/graphql` (GraphiQL opens on an example) and over gRPC on port {settings.grpc_port}."
    )


def build_docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """GET /docs and /redoc, pointing at the assets `mount_docs_assets` serves."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
        )

    @router.get(OAUTH2_REDIRECT_PATH)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
            with_google_fonts=False,  # fonts from Google would be one more request that fails offline
        )

    return router


def mount_docs_assets(app: FastAPI) -> None:
    """Swagger UI's and ReDoc's files at DOCS_ASSETS_PATH (a mount: not in the OpenAPI document)."""
    directory = files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=str(directory)), name="docs-assets")
