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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from coverage.errors import NetkortError
from coverage.reports import (
    Report,
    ReportFilter,
    ReportStore,
    ReportStoreError,
    ReportValidationError,
    export_reports,
    lookup_summary,
    snapshot,
    validate_report,
)
from coverage.types import MAX_SPEED_MBIT
from service.dependencies import get_watcher
from service.errors import ERROR_RESPONSES, ErrorBody, UnavailableError
from service.settings import ServiceSettings

log = logging.getLogger("netkort.service")

_HERE = Path(__file__).resolve().parent.parent
#: The form page and its script: fixed files, never a path taken from a request.
PAGE = _HERE / "templates" / "report.html"
SCRIPT = _HERE / "static" / "app" / "report.js"
_RETRY_OPEN = 5.0  # seconds between attempts to open a database that was unreachable
# Text a person types: no control characters (PostgreSQL refuses NUL; none belongs in a report).
_PLAIN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# At least one visible character (a rejection's reason cannot be blank).
_SAID = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_ADDRESS_ID = (
    r"^\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[Mm][Aa][Pp][Pp][Ii][Nn][Gg]:[0-9]{4}:[A-Za-z0-9-]+:[0-9]{1,3}[A-Za-z]?)\s*$"
)
_EMAIL = r"^\s*[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]{2,}\s*$"
_PHONE = r"^\s*\+?[0-9 ()-]{6,30}\s*$"

Text = Annotated[str, Field(pattern=_PLAIN)]
Mbit = Annotated[float, Field(ge=0, le=MAX_SPEED_MBIT, allow_inf_nan=False)]


def _iso_time(value: object) -> object:
    """Only ISO 8601 text is a time here (pydantic would also take 0.5 as seconds since 1970)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value[:4].isdigit() or "-" not in value:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-05-01T18:30:00+02:00")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_time)]


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


# -- request and answer bodies ------------------------------------------------------------------


class SpeedTest(BaseModel):
    """A speed test the reporter ran: result, when, on what device."""

    model_config = ConfigDict(extra="forbid")
    down: Mbit = Field(description="Measured download, Mbit/s.")
    up: Mbit | None = Field(None, description="Measured upload, Mbit/s.")
    at: IsoTime = Field(
        description="When it was taken (not in the future); no offset = Danish time."
    )
    device: Annotated[Text, Field(max_length=100)] | None = Field(
        None, description="Device and connection, e.g. 'laptop, cable'."
    )


class Contact(BaseModel):
    """How a planner may reach the reporter; never published or exported."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(max_length=100)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=_EMAIL)] | None = None
    phone: Annotated[str, Field(max_length=30, pattern=_PHONE)] | None = None


class _ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address_id: str = Field(
        max_length=120,
        pattern=_ADDRESS_ID,
        description="Register UUID, or a mapping id (mapping:POSTNR:street:NUMBER) from lookup.",
    )
    reporter: Literal["citizen", "municipality"] = "citizen"
    speedtest: SpeedTest | None = None
    message: Annotated[Text, Field(max_length=2000)] | None = Field(
        None, description="What is wrong, in the reporter's words (at most 2,000 characters)."
    )
    contact: Contact | None = None


class FixedSpeedReport(_ReportIn):
    """A fixed technology's offered speed is wrong at the address."""

    kind: Literal["fixed_speed"]
    technology: Literal["fiber", "coax", "xdsl", "fwa"]
    claimed_down: Mbit = Field(description="The download speed actually available, Mbit/s.")
    claimed_up: Mbit | None = Field(None, description="The upload actually available, Mbit/s.")


class MobileReport(_ReportIn):
    """Mobile coverage is wrong at the address (0 = no coverage)."""

    kind: Literal["mobile_coverage"]
    operator: Annotated[Text, Field(max_length=60)] | None = None
    claimed_down: Mbit = Field(description="Mobile download actually available, Mbit/s.")
    claimed_up: Mbit | None = None


class AddressReport(_ReportIn):
    """The address itself is wrong: missing, misplaced, misspelt, or not in the mapping."""

    kind: Literal["address"]
    address_problem: Literal[
        "does_not_exist", "wrong_position", "wrong_text", "missing_from_mapping", "other"
    ]
    claimed_text: Annotated[Text, Field(max_length=200)] | None = Field(
        None, description="The address as it should be."
    )


ReportIn = Annotated[FixedSpeedReport | MobileReport | AddressReport, Field(discriminator="kind")]


class ReportedAddress(BaseModel):
    """The reported address as the release knew it."""

    id: str
    text: str | None


class Receipt(BaseModel):
    """What the reporter gets back: the report's id and state (no contact details)."""

    id: str
    status: str
    kind: str
    created_at: datetime
    address: ReportedAddress
    message_da: str
    message_en: str


class ReportEvent(BaseModel):
    """One status change."""

    at: datetime
    status_from: str | None
    status_to: str
    reason: str | None
    actor: str | None


class ReportList(BaseModel):
    """A page of reports, newest first (planners only: contact details included)."""

    total: int
    limit: int
    offset: int
    items: list[Report]


class ReportDetail(BaseModel):
    """One report with its status history (planners only)."""

    report: Report
    history: list[ReportEvent]


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: Annotated[Text, Field(max_length=60)] | None = Field(
        None, description="Who decided (shown in the history)."
    )


class Review(_Decision):
    """Back to new, under review, or accepted; a reason is optional."""

    status: Literal["new", "under_review", "accepted"]
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class Rejection(_Decision):
    """Rejected: the reason is required (the reporter may be told it)."""

    status: Literal["rejected"]
    reason: Annotated[str, Field(max_length=2000, pattern=_SAID)]


StatusChange = Annotated[Review | Rejection, Field(discriminator="status")]


class ReportSummary(BaseModel):
    """Reports on an address, shown in the lookup answer (counts only, nothing personal)."""

    under_review: bool = Field(description="True while a report is new or under review.")
    open: int
    accepted: int
    rejected: int
    label: dict[str, str] | None = Field(description="'Reported, under review' in da and en.")


@dataclass
class ReportQuery:
    """Filters of the planner list and export."""

    status: Annotated[
        list[Literal["new", "under_review", "accepted", "rejected"]] | None,
        Query(description="Only these statuses; repeat for several."),
    ] = None
    kind: Annotated[
        list[Literal["fixed_speed", "mobile_coverage", "address"]] | None,
        Query(description="Only these kinds."),
    ] = None
    municipality: Annotated[
        list[Annotated[str, Field(pattern=r"^\d{4}$")]] | None,
        Query(description="Municipality codes, e.g. 0741."),
    ] = None
    address_id: Annotated[str | None, Query(max_length=120)] = None
    since: Annotated[IsoTime | None, Query(description="Created at or after.")] = None
    until: Annotated[IsoTime | None, Query(description="Created before.")] = None

    def filter(self, limit: int | None = None, offset: int = 0) -> ReportFilter:
        """As the library's filter."""
        return ReportFilter(
            status=tuple(self.status or ()),
            kind=tuple(self.kind or ()),
            kommunekode=tuple(self.municipality or ()),
            address_id=self.address_id,
            since=self.since,
            until=self.until,
            limit=limit,
            offset=offset,
        )


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


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page() -> HTMLResponse:
    """The report form; the page reads the address id from its own URL (``/report?id=``)."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.get("/static/app/report.js", include_in_schema=False)
def report_script() -> FileResponse:
    """The form's script (served here too, so the page works whether or not /static is mounted)."""
    return FileResponse(SCRIPT, media_type="text/javascript; charset=utf-8")


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
