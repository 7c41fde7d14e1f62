"""Corrections: citizens post reports, planners review and export them; ``/report`` is the form.

``POST /api/reports`` is public (rate limited per client by :mod:`service.security`) and answers 201
only after the report is committed. The planner endpoints need ``Authorization: Bearer <token>``
(``NETKORT_ADMIN_TOKEN``, compared in constant time): 401 without or with a wrong token, 403 while no
token is configured (admin disabled). Contact details appear only in planner answers, never in the
receipt, the lookup or an export. The store itself is :mod:`coverage.reports`; it is opened once per
app in this router's lifespan (lazily again if the database was down at start).
"""

from __future__ import annotations

import hmac
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from coverage.errors import NetkortError
from coverage.reports import (
    Report,
    ReportStore,
    ReportStoreError,
    ReportValidationError,
    export_reports,
    lookup_summary,
    snapshot,
    validate_report,
)
from service.dependencies import get_watcher
from service.errors import ERROR_RESPONSES, ErrorBody, UnavailableError
from service.report_models import (
    AddressReport,
    FixedSpeedReport,
    MobileReport,
    Receipt,
    ReportDetail,
    ReportIn,
    ReportList,
    ReportQuery,
    ReportSummary,
    StatusChange,
)
from service.settings import ServiceSettings

log = logging.getLogger("netkort.service")

_RETRY_OPEN = 5.0  # seconds between attempts to open a database that was unreachable


# -- the store, once per app --------------------------------------------------------------------


class StoreHolder:
    """Opens the app's report store on first use; retries a database that was down."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._store: ReportStore | None = None
        self._lock = threading.Lock()
        self._failed_at = -float("inf")
        self.problem: str | None = None

    def get(self) -> ReportStore:
        """The open store; :class:`UnavailableError` (503) while it cannot be opened."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                if time.monotonic() - self._failed_at < _RETRY_OPEN and self.problem:
                    raise UnavailableError(self.problem)
                try:
                    self._store = ReportStore.open(self.settings.home, self.settings.database_url)
                except NetkortError as exc:
                    self._failed_at = time.monotonic()
                    self.problem = f"reports are unavailable: {exc}"
                    log.error(self.problem)
                    raise UnavailableError(self.problem) from None
                self.problem = None
            return self._store

    def close(self) -> None:
        """Close the store's connections (at shutdown)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


_holders_lock = threading.Lock()


def store_holder(app: FastAPI) -> StoreHolder:
    """The app's :class:`StoreHolder`, made on first use."""
    with _holders_lock:
        holder = getattr(app.state, "reports", None)
        if holder is None:
            holder = StoreHolder(app.state.settings)
            app.state.reports = holder
        return holder


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    holder = store_holder(app)
    try:  # open (and migrate) at start; a database that is down is retried on first use
        await run_in_threadpool(holder.get)
    except UnavailableError:
        pass
    yield
    holder.close()


router = APIRouter(tags=["reports"], lifespan=_lifespan)


def get_store(request: Request) -> ReportStore:
    """The app's report store (503 while the database cannot be reached)."""
    return store_holder(request.app).get()


Store = Annotated[ReportStore, Depends(get_store)]


@contextmanager
def _answering() -> Iterator[None]:
    """Library outcomes as HTTP: a broken rule → 422 naming the field, a database down → 503."""
    try:
        yield
    except ReportValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", f), "msg": why, "type": "value_error"} for f, why in exc.problems]
        ) from None
    except ReportStoreError as exc:
        raise UnavailableError(str(exc)) from None


_bearer = HTTPBearer(auto_error=False, description="NETKORT_ADMIN_TOKEN")


def require_planner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let through only a request bearing the admin token (compared in constant time)."""
    settings: ServiceSettings = request.app.state.settings
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "the planner endpoints are disabled: set NETKORT_ADMIN_TOKEN")
    given = credentials.credentials if credentials is not None else ""
    expected = settings.admin_token.get_secret_value()
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise HTTPException(
            401,
            "a planner token is needed: send Authorization: Bearer <NETKORT_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


Planner = [Depends(require_planner)]
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "No token, or a wrong one."},
    403: {"model": ErrorBody, "description": "The planner endpoints are disabled (no token set)."},
}


# -- routes -------------------------------------------------------------------------------------


def _flat(report: FixedSpeedReport | MobileReport | AddressReport) -> dict[str, Any]:
    """The nested request as the flat fields :func:`coverage.reports.validate_report` checks."""
    raw = report.model_dump(exclude={"speedtest", "contact"})
    for group in ("speedtest", "contact"):
        part = getattr(report, group)
        if part is not None:
            raw |= {f"{group}_{k}": v for k, v in part.model_dump().items()}
    return raw


@router.post(
    "/api/reports",
    status_code=201,
    response_model=Receipt,
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorBody, "description": "The body is too large."},
        429: {"model": ErrorBody, "description": "Too many reports from this client."},
    },
    summary="Report wrong data for an address",
)
def post_report(
    request: Request,
    response: Response,
    store: Store,
    report: Annotated[ReportIn, Body()],
) -> dict[str, Any]:
    """Store a report on an address of the current release. 201 once it is committed (it survives
    a crash from then on); 422 names every field that breaks a rule."""
    state = get_watcher(request).get()
    release_id = state.release.id
    with _answering():
        row = validate_report(_flat(report), lambda i: snapshot(state.index, i, release_id))
        stored = store.add(row)
    response.headers["Location"] = f"/api/reports/{stored.id}"
    return {
        "id": stored.id,
        "status": stored.status,
        "kind": stored.kind,
        "created_at": stored.created_at,
        "address": {"id": stored.address_id, "text": stored.address_text},
        "message_da": "Tak! Din rapport er modtaget og bliver behandlet af kommunen.",
        "message_en": "Thank you! Your report was received and will be reviewed.",
    }


@router.get(
    "/api/reports",
    response_model=ReportList,
    responses=_ADMIN_ERRORS,
    dependencies=Planner,
    summary="List reports (planners)",
)
def list_reports(
    store: Store,
    query: Annotated[ReportQuery, Depends()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Reports matching the filters, newest first, with contact details."""
    with _answering():
        items, total = store.list(query.filter(limit, offset))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get(
    "/api/reports/export",
    response_class=FileResponse,
    responses={
        **_ADMIN_ERRORS,
        200: {"content": {"text/csv": {}, "application/geopackage+sqlite3": {}}},
    },
    dependencies=Planner,
    summary="Export reports for the operators (planners)",
)
def export(
    request: Request,
    store: Store,
    query: Annotated[ReportQuery, Depends()],
    format: Annotated[Literal["csv", "gpkg"], Query(description="File format.")] = "csv",
) -> FileResponse:
    """All reports matching the filters as CSV or GeoPackage (EPSG:25832), without contact
    details."""
    watcher = get_watcher(request)
    release = watcher.state.release if watcher.state is not None else None
    folder = Path(tempfile.mkdtemp(prefix="netkort-reports-"))
    try:
        with _answering():
            files = export_reports(
                store, format, folder / f"netkort-reports.{format}", query.filter(), release=release
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    path = files[0]  # the data file; a CSV's metadata sidecar stays behind
    media = "text/csv; charset=utf-8" if format == "csv" else "application/geopackage+sqlite3"
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


ReportId = Annotated[str, PathParam(description="The report's id.", max_length=36)]


@router.get(
    "/api/reports/{report_id}",
    response_model=ReportDetail,
    responses=_ADMIN_ERRORS,
    dependencies=Planner,
    summary="One report and its history (planners)",
)
def get_report(store: Store, report_id: ReportId) -> dict[str, Any]:
    """The report with contact details and every status change."""
    with _answering():
        return {"report": store.get(report_id), "history": store.history(report_id)}


@router.patch(
    "/api/reports/{report_id}",
    response_model=Report,
    responses=_ADMIN_ERRORS,
    dependencies=Planner,
    summary="Change a report's status (planners)",
)
def change_status(
    store: Store, report_id: ReportId, change: Annotated[StatusChange, Body()]
) -> Report:
    """Move a report to new, under_review, accepted or rejected (with a reason)."""
    with _answering():
        return store.set_status(report_id, change.status, change.reason, change.reviewer)


# -- the lookup's hook --------------------------------------------------------------------------


def report_summary(request: Request, address_id: str) -> dict[str, Any] | None:
    """Reports on ``address_id`` for the lookup answer, or None when there are none (or the
    report database is unavailable: a lookup never fails because of it)."""
    try:
        return lookup_summary(store_holder(request.app).get().summary(address_id))
    except NetkortError:
        return None


__all__ = [
    "ReportIn",
    "ReportSummary",
    "StoreHolder",
    "get_store",
    "report_summary",
    "require_planner",
    "router",
    "store_holder",
]
