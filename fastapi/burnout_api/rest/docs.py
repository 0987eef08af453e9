"""/docs (Swagger UI) and /redoc served with their JavaScript and CSS from the service itself, not a CDN,
so they work on a machine without internet. The assets come from the pinned `fastapi-offline` package."""

from __future__ import annotations

from importlib.resources import files

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from fastapi import APIRouter, FastAPI

DOCS_ASSETS_PATH = "/static/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


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
