"""``/api/lookup`` and ``/api/autocomplete``: what a citizen can get at an address.

The lookup answer is serialised with orjson straight from :func:`coverage.answer.lookup`'s dict:
validating it against :class:`LookupAnswer` on the way out (every rule set's pool and reasons) cost
more than building it. ``response_model`` still declares the schema in OpenAPI, and the tests check
every answer body against it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.utils import get_typed_signature
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from coverage.answer import lookup
from service.dependencies import AutocompleteParams, LookupParams, State, get_state
from service.errors import ERROR_RESPONSES
from service.routes.reports import ReportSummary, report_summary
from service.state import ServiceState

router = APIRouter(prefix="/api", tags=["lookup"])
T = TypeVar("T")


def on_loop(build: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``build`` as an async dependency with the same parameters (and so the same OpenAPI).

    FastAPI runs every plain ``def`` dependency in its threadpool: a thread hand-off (~50-100 µs
    under load) for work of a microsecond, like filling a dataclass of query parameters or taking
    the state reference. Declared async, they run on the event loop.
    """

    async def dependency(**values: Any) -> T:
        return build(**values)

    dependency.__signature__ = get_typed_signature(build)  # type: ignore[attr-defined]
    dependency.__doc__ = build.__doc__
    return dependency


LoopState = Annotated[ServiceState, Depends(on_loop(get_state))]
LoopLookupParams = Annotated[LookupParams, Depends(on_loop(LookupParams))]


class QueryEcho(BaseModel):
    """What was asked, and how the address was found (exact, prefix, fuzzy, id, nearest)."""

    text: str | None
    id: str | None
    lon: float | None
    lat: float | None
    match: str


class AddressOut(BaseModel):
    """The address; a mapping row without a register address has no position."""

    id: str
    text: str
    vejnavn: str
    husnr: str
    postnr: str
    postnrnavn: str | None
    supplerendebynavn: str | None
    kommunekode: str | None
    kommunenavn: str | None
    zone: str | None = Field(description="Byzone, Landzone, Sommerhusområde; null = unknown.")
    lon: float | None
    lat: float | None
    east: float | None = Field(description="EPSG:25832 metres.")
    north: float | None
    ddkn_m100: str | None
    position_known: bool
    in_register: bool
    generated: bool


class Speed(BaseModel):
    """Offered speed in Mbit/s: 0 = not offered, null = the mapping file had no such column."""

    down: float | None
    up: float | None


class BestFixed(Speed):
    """The best fixed offer and its technology."""

    technology: str | None


class FixedOut(BaseModel):
    """Fixed-network offers per technology (fiber, coax, xdsl, fwa) and the best of them."""

    technologies: dict[str, Speed]
    best: BestFixed


class DeclaredMobile(Speed):
    """Mobile broadband as operators declared it in the national mapping."""

    source: str | None
    file: str
    year: int | None


class MobileGap(BaseModel):
    """Whether the declared class is clearly above what measurements show (an objection's start)."""

    declared_vs_observed_gap: bool
    reason: str | None


class MobileOut(BaseModel):
    """Declared mobile speeds; measured and modelled observations when the release has them."""

    declared: DeclaredMobile | None
    observations: list[dict[str, Any]]
    gap: MobileGap | None = None


class Reason(BaseModel):
    """One criterion of a rule set and how the address fared."""

    model_config = ConfigDict(extra="allow")
    criterion: str
    value: Any = None
    threshold: Any = None
    outcome: str


class PoolOut(BaseModel):
    """The broadband pool under one rule set."""

    model_config = ConfigDict(populate_by_name=True)
    class_: str = Field(
        alias="class",
        description="eligible, eligible_blue, eligible_if_zone, not_eligible or no_data.",
    )
    title: dict[str, str] | None
    reasons: list[Reason]
    reason_da: str | None
    reason_en: str | None
    zone: str | None
    zone_source: str | None
    zone_ids: list[str]


class PointOut(BaseModel):
    """What is known at an asked position itself."""

    lon: float
    lat: float
    east: float
    north: float
    distance_m: float = Field(description="Distance to the address that answers, metres.")
    kommunekode: str | None
    kommunenavn: str | None
    zone_ids: dict[str, list[str]]
    mobile: list[dict[str, Any]]


class ReleaseOut(BaseModel):
    """The release answering."""

    id: str
    created: str | None
    generated: bool


class InputOut(BaseModel):
    """One input file of the release."""

    kind: str | None
    file: str
    year: int | None
    generated: bool


class SourcesOut(BaseModel):
    """Where the data comes from."""

    attribution: list[str]
    inputs: list[InputOut]


class LookupAnswer(BaseModel):
    """Everything known about one address."""

    query: QueryEcho
    address: AddressOut
    fixed: FixedOut
    mobile: MobileOut
    pool: dict[str, PoolOut] = Field(description="By rule set id; empty without an assessment.")
    point: PointOut | None
    release: ReleaseOut
    sources: SourcesOut
    generated: bool = Field(description="True when the address or its mapping row is generated.")
    notes: list[str]
    reports: ReportSummary | None = Field(
        default=None, description="Corrections reported for the address; null = none."
    )


class Suggestion(BaseModel):
    """One autocomplete result."""

    id: str
    text: str
    position_known: bool
    match: str


class AutocompleteAnswer(BaseModel):
    """Addresses for text being typed, best first."""

    query: str
    results: list[Suggestion]


@router.get(
    "/lookup",
    response_model=LookupAnswer,
    responses=ERROR_RESPONSES,
    summary="What can I get at this address?",
)
async def lookup_address(state: LoopState, params: LoopLookupParams, request: Request) -> Response:
    """Look an address up by text (``q``), id (``id``) or position (``lon`` + ``lat``, nearest
    address within 50 m). Give exactly one. Not found: 404 with up to five suggestions."""

    def answer_it() -> dict[str, Any]:
        return lookup(
            state.index, state.context, q=params.q, id=params.id, lon=params.lon, lat=params.lat
        )

    if params.lon is None and params.lat is None:
        # On the event loop: an answer by text or id is ~0.1-0.2 ms of CPU and no I/O, and a
        # threadpool hand-off per request cost more than that (~25% more server CPU under wrk).
        answer = answer_it()
    else:  # a position also samples the release's mobile rasters (file reads): off the loop
        answer = await run_in_threadpool(answer_it)
    if _local_reports(request):  # a SQLite file: a ~0.1 ms read
        answer["reports"] = report_summary(request, answer["address"]["id"])
    else:  # a database server may be slow or down: never stall the loop on it
        answer["reports"] = await run_in_threadpool(
            report_summary, request, answer["address"]["id"]
        )
    return Response(orjson.dumps(answer), media_type="application/json")


def _local_reports(request: Request) -> bool:
    """Whether the report store is the local SQLite file (the default) rather than a server."""
    url = request.app.state.settings.database_url
    return not url or str(url).startswith("sqlite")


@router.get(
    "/autocomplete",
    response_model=AutocompleteAnswer,
    responses=ERROR_RESPONSES,
    summary="Addresses for text being typed",
)
def autocomplete(state: State, params: Annotated[AutocompleteParams, Depends()]) -> dict[str, Any]:
    """Prefix matches first (the exact street before longer names), then fuzzy ones."""
    hits = state.index.autocomplete(params.q, params.limit)
    return {
        "query": params.q,
        "results": [
            {"id": h.id, "text": h.text, "position_known": h.position_known, "match": h.quality}
            for h in hits
        ],
    }
