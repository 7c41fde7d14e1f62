"""The app factory: settings → lifespan (load the release) → routers, middleware, error handlers.

Run it with ``netkort serve``, or ``uvicorn --factory service.main:create_app`` (settings from the
environment, ``NETKORT_*``).
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coverage import __version__
from coverage.memory import Trimmer, tune_for_long_runs
from service import routes
from service.errors import add_exception_handlers
from service.routes import ROUTERS
from service.security import add_security
from service.settings import ServiceSettings
from service.state import Metrics, ReleaseWatcher

DESCRIPTION = """
Broadband and mobile coverage for Region Midtjylland: what an address can get, whether the
broadband pool can help it and why, per municipality statistics, exports, and OGC API – Features
collections for QGIS. Data: DAGI (SDFI), the national broadband mapping (Digitaliseringsstyrelsen),
addresses © OpenStreetMap contributors (ODbL).
"""


class MetricsMiddleware:
    """Counts every HTTP request by route template (not raw path, which would explode label
    cardinality) and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting the status sent and the time taken."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.metrics.observe(
                template, scope.get("method", ""), status, time.perf_counter() - started
            )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the service for the given settings (default: from the environment)."""
    settings = settings or ServiceSettings()
    tune_for_long_runs()  # the service holds a release for hours: see coverage.memory
    metrics = Metrics()
    watcher = ReleaseWatcher(settings, metrics)
    trimmer = Trimmer(settings.trim_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading reads and indexes the whole release: off the event loop.
        await run_in_threadpool(watcher.start)
        trimmer.start()
        yield
        trimmer.stop()
        watcher.wait(timeout=30)

    app = FastAPI(
        # FastAPI's own /docs and /redoc load from a CDN; service/routes/pages.py serves /docs
        # from the vendored Swagger UI instead.
        docs_url=None,
        redoc_url=None,
        title=settings.title,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.watcher = watcher
    app.state.trimmer = trimmer
    add_exception_handlers(app)
    add_security(app, settings)  # innermost middleware: CORS and metrics still see 413/429

    # Core routers first, then any other route module (tiles, pages, changes, ...) alphabetically.
    others = sorted(m.name for m in pkgutil.iter_modules(routes.__path__) if m.name not in ROUTERS)
    for name in (*ROUTERS, *others):
        router = getattr(importlib.import_module(f"service.routes.{name}"), "router", None)
        if router is not None:
            app.include_router(router)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],  # POST: the report form on another origin
            allow_headers=["*"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


__all__ = ["MetricsMiddleware", "create_app"]
