"""Request dependencies: the loaded state, the settings, and query parameters grouped by route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request

from coverage.ogc import DEFAULT_LIMIT, MAX_LIMIT
from service.settings import ServiceSettings
from service.state import ReleaseWatcher, ServiceState


def get_watcher(request: Request) -> ReleaseWatcher:
    """The app's release watcher."""
    watcher: ReleaseWatcher = request.app.state.watcher
    return watcher


def get_state(request: Request) -> ServiceState:
    """The state to answer with. The reference is taken once, so a hot reload during the request
    does not change what the request sees."""
    return get_watcher(request).get()


def get_settings(request: Request) -> ServiceSettings:
    """The app's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def base_url(request: Request) -> str:
    """The service's root URL as the client reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


State = Annotated[ServiceState, Depends(get_state)]
Settings = Annotated[ServiceSettings, Depends(get_settings)]
BaseUrl = Annotated[str, Depends(base_url)]

_RULES = Query(
    description="Pool rule set: an id (2024-2025) or a year (2025); default the newest.",
    max_length=20,
    examples=["2025"],
)


@dataclass
class LookupParams:
    """Exactly one of: address text, address id, or a position."""

    q: Annotated[
        str | None,
        Query(
            description="Address text, e.g. 'Strandvejen 52, 8305 Samsø'.",
            max_length=200,
            examples=["Strandvejen 52, 8305 Samsø"],
        ),
    ] = None
    id: Annotated[
        str | None,
        Query(
            description="Register UUID, or a mapping id (mapping:POSTNR:street:NUMBER) from search.",
            max_length=120,
        ),
    ] = None
    lon: Annotated[
        float | None, Query(description="Longitude, WGS84 degrees.", ge=-180, le=180)
    ] = None
    lat: Annotated[float | None, Query(description="Latitude, WGS84 degrees.", ge=-90, le=90)] = (
        None
    )


@dataclass
class AutocompleteParams:
    """Text being typed and how many suggestions to return."""

    q: Annotated[
        str,
        Query(description="The beginning of an address.", min_length=1, max_length=200),
    ]
    limit: Annotated[int, Query(description="At most this many results.", ge=1, le=50)] = 10


@dataclass
class ItemsParams:
    """Paging, bbox and rule set of an OGC items request."""

    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in CRS84 degrees.",
            max_length=200,
            examples=["10.5,55.8,10.7,55.9"],
        ),
    ] = None
    limit: Annotated[int, Query(description="Features per page.", ge=1, le=MAX_LIMIT)] = (
        DEFAULT_LIMIT
    )
    offset: Annotated[int, Query(description="Features to skip.", ge=0, le=100_000_000)] = 0
    rules: Annotated[str | None, _RULES] = None
    f: Annotated[
        Literal["json", "geojson"] | None, Query(description="Output format (GeoJSON only).")
    ] = None


@dataclass
class RulesParam:
    """The rule set of a request."""

    rules: Annotated[str | None, _RULES] = None


@dataclass
class ExportParams:
    """What to export, under which rules, in which format, for which municipalities."""

    what: Annotated[
        Literal["eligible-addresses", "addresses", "zones", "grid", "stats", "all"],
        Query(description="The layer(s) to export."),
    ] = "eligible-addresses"
    format: Annotated[
        Literal["gpkg", "geojson", "fgb", "parquet", "shp", "csv"],
        Query(description="File format."),
    ] = "gpkg"
    rules: Annotated[str | None, _RULES] = None
    municipality: Annotated[
        list[str] | None,
        Query(description="Municipality code(s), e.g. 0741; repeat for several."),
    ] = None


MunicipalityCode = Annotated[
    str, Path(description="Municipality code (0741) or name (Samsø).", max_length=60)
]

__all__ = [
    "AutocompleteParams",
    "BaseUrl",
    "ExportParams",
    "ItemsParams",
    "LookupParams",
    "MunicipalityCode",
    "RulesParam",
    "Settings",
    "State",
    "base_url",
    "get_settings",
    "get_state",
    "get_watcher",
]
