"""Assembles the service: REST routers, GraphQL and gRPC over one inference core, in one process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect

from burnout_api.core import InferenceCore
from burnout_api.core.model_store import MLFLOW_CLIENT_ENV
from burnout_api.feedback import FeedbackStore
from burnout_api.graphql_api.ide import mount_graphiql_assets
from burnout_api.graphql_api.schema import build_graphql_router
from burnout_api.http_server import build_http_server, client_gone, shared_listener
from burnout_api.rest import aliases, feedback, health, models, predict, predict_stream, reload
from burnout_api.rest import metrics as metrics_route
from burnout_api.rest.body_limit import BodySizeLimit
from burnout_api.rest.docs import build_docs_router, describe_api, mount_docs_assets
from burnout_api.rest.errors import install_error_handlers
from burnout_api.rest.request_id import RequestId
from burnout_api.v2 import rest as v2_rest
from burnout_base.settings import Settings
from fastapi import FastAPI

if TYPE_CHECKING:
    from burnout_api.workers import WorkerLink

log = logging.getLogger(__name__)
GIL_SWITCH_INTERVAL_S = 0.001


def create_app(settings: Settings, core: InferenceCore | None = None) -> FastAPI:
    """The REST + GraphQL application; the core's poller runs while the app's lifespan does."""
    core = core or InferenceCore(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        core.start()
        yield
        core.stop()

    app = FastAPI(
        title="Burnout risk API",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from rest.docs, with their assets served here (no CDN)
        redoc_url=None,
        description=describe_api(settings),
    )
    app.state.core, app.state.settings = core, settings
    app.state.feedback = FeedbackStore(settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestId)  # added last: outermost, so that a 413 carries the id too
    install_error_handlers(app)
    app.add_exception_handler(ClientDisconnect, client_gone)
    # /predict first: routes are matched in order and it is the hot one.
    routers = (
        predict.build_predict_router(settings),
        v2_rest.infer_router,
        predict_stream.router,
        feedback.router,
        health.router,
        models.router,
        reload.router,
        aliases.router,
        v2_rest.router,
    )
    for router in (*routers, metrics_route.router, build_docs_router(app.title)):
        app.include_router(router)
    # GraphQL documents itself (GraphiQL, introspection): its two routes stay out of the REST schema.
    app.include_router(build_graphql_router(core), prefix="/graphql", include_in_schema=False)
    mount_docs_assets(app)
    mount_graphiql_assets(app)
    return app


def serve(settings: Settings) -> None:
    """REST + GraphQL on `api_port` and gRPC on `grpc_port` until SIGINT/SIGTERM, then a drain: not ready but
    still serving for `drain_delay_s`, then the listeners close and calls in flight get `shutdown_grace_s`.
    After a signal the process exits within both plus 5 s, so call this last. With more than one worker
    (BURNOUT_API_WORKERS, default the CPUs this process may use), as that many processes sharing both ports
    (burnout_api.workers)."""
    from burnout_api.workers import run_workers, worker_count

    settings.check_serving()  # fail closed: no reload token, no service
    count = worker_count(settings)
    if count > 1:
        run_workers(settings, count)
    else:
        serve_process(settings)


def serve_process(settings: Settings, worker: WorkerLink | None = None) -> None:
    """The whole service in this process; as one of several `worker`s, bound to ports the others share."""
    from threadpoolctl import threadpool_limits

    from burnout_api.grpc_api.server import start_grpc_server

    settings.check_serving()
    for name, value in MLFLOW_CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    # Concurrency comes from requests, not from threads inside one prediction: BLAS/OpenMP pools oversubscribe
    # the cores under load (a KNN single-record answer measured 69 ms with 2 threads, 1.6 ms with 1).
    threadpool_limits(limits=1)
    # A worker thread running pure Python (GraphQL coercing a 10,000-record variable) holds the GIL for up to
    # the switch interval each time the event loop needs it: at the default 5 ms, /health took a median 14 ms
    # during such a request; at 1 ms, 1.4 ms.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    grace = settings.shutdown_grace_s
    core = InferenceCore(settings)
    if worker is not None:
        worker.attach(core)
    core.start()
    grpc_server = None
    try:
        sockets = None
        if worker is not None:
            # A worker joins the shared ports once its first registry read is over, the champion loaded: until
            # then the kernel sends every connection to the workers already serving, so no client or probe
            # meets a worker still loading. (Alone, the process listens at once and /ready says "starting".)
            core.wait_first_refresh()
            # gRPC binds with SO_REUSEPORT by default; HTTP shares its port the same way.
            sockets = [shared_listener(settings.api_host, settings.api_port)]
        grpc_server, _ = start_grpc_server(core, settings.api_host, settings.grpc_port)

        def close_grpc() -> None:  # when the HTTP listener closes, after the drain delay
            log.info("stopping gRPC: new calls refused, calls in flight get %g s", grace)
            grpc_server.begin_stop(grace)  # concurrent with the HTTP drain, under the same grace

        # The drain's first step: /ready 503 "draining", gRPC health NOT_SERVING, so balancers stop sending
        # while both listeners still serve for BURNOUT_DRAIN_DELAY_S.
        app = create_app(settings, core)
        with _signals_logged():
            server = build_http_server(app, settings, on_drain=core.begin_drain, on_close=close_grpc)
            server.run(sockets=sockets)
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace)  # already stopping if the drain began: this waits for it
        core.stop()


@contextmanager
def _signals_logged() -> Iterator[None]:
    """uvicorn handles SIGINT/SIGTERM itself and re-raises them once its shutdown is done; these handlers
    receive that re-raise, so the process goes on to stop gRPC instead of dying half-way."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _log_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_signal(signum: int, _frame: object) -> None:
    log.info("received %s: shutting down", signal.Signals(signum).name)
