"""``GET /api/changes``: what changed between two releases, for the planner's "changes" panel.

Counts per municipality and kind, zone changes, changed sources, and the changed addresses as
GeoJSON (EPSG:4326) for a map layer coloured by ``kind``. The work is :func:`coverage.diff.
diff_releases`; releases are immutable, so a diff is cached on the app by the two ids, the rule set
and the municipalities.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from coverage.diff import (
    CHANGE_KINDS,
    ReleaseDiff,
    change_records,
    diff_releases,
    parse_kinds,
    releases_to_compare,
    select_kinds,
    zone_records,
)
from coverage.errors import InvalidRequestError
from coverage.rules import get_rule_set
from coverage.types import WEB_CRS
from service.dependencies import get_watcher
from service.errors import ERROR_RESPONSES
from service.state import ReleaseWatcher

#: The change kinds as an enum in the OpenAPI document (the same tuple coverage.diff counts).
ChangeKind = Literal[CHANGE_KINDS]  # type: ignore[valid-type]

router = APIRouter(tags=["changes"])

#: Diffs kept per app (a region diff takes seconds; the panel asks for the same one repeatedly).
CACHE_SIZE = 8
_NO_RULES = ("none", "no", "off")


@dataclass
class ChangesParams:
    """Which two releases to compare, under which rules, for which municipalities."""

    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="The older release id (default: the one before `to`).",
            max_length=80,
        ),
    ] = None
    to: Annotated[
        str | None,
        Query(description="The newer release id (default: the one being served).", max_length=80),
    ] = None
    municipality: Annotated[
        list[str] | None,
        Query(description="Municipality code (0741) or name; repeat for several."),
    ] = None
    rules: Annotated[
        str | None,
        Query(
            description="Rule set for classes and zones: an id (2024-2025) or a year (2025); "
            "default the newest; 'none' compares speeds only.",
            max_length=20,
        ),
    ] = None
    kind: Annotated[
        list[ChangeKind] | None,
        Query(description="Only addresses with these kinds of change (repeat for several)."),
    ] = None
    limit: Annotated[
        int, Query(description="At most this many changed addresses in `changes`.", ge=0, le=50_000)
    ] = 5_000


class SourceChangeOut(BaseModel):
    """One input file compared by the sha256 each release recorded."""

    kind: str
    status: Literal["unchanged", "changed", "added", "removed"]
    file_from: str | None
    file_to: str | None
    sha256_from: str | None
    sha256_to: str | None


class MunicipalityChanges(BaseModel):
    """Changed addresses of one municipality, per kind (an address may count in several)."""

    kommunekode: str
    kommunenavn: str | None
    changed: int = Field(description="Addresses with any change.")
    kinds: dict[str, int]


class Point(BaseModel):
    """A GeoJSON point, lon/lat."""

    type: Literal["Point"]
    coordinates: list[float]


class ChangeProperties(BaseModel):
    """How one address changed: its kinds and both states (None where a side has no value)."""

    model_config = ConfigDict(extra="allow")

    address_id: str
    kind: str = Field(description="The most consequential kind, for colouring a map.")
    kinds: str = Field(description="Every kind of change, separated by ';'.")
    kommunekode: str | None
    kommunenavn: str | None
    vejnavn: str | None
    husnr: str | None
    postnr: str | None
    best_down_from: float | None
    best_down_to: float | None
    best_tech_from: str | None
    best_tech_to: str | None
    mobile_down_from: float | None
    mobile_down_to: float | None
    class_from: str | None
    class_to: str | None
    generated: bool


class ChangedAddress(BaseModel):
    """A changed address as a GeoJSON feature."""

    type: Literal["Feature"]
    id: str
    geometry: Point | None
    properties: ChangeProperties


class ChangedAddresses(BaseModel):
    """Changed addresses as a GeoJSON FeatureCollection (EPSG:4326)."""

    type: Literal["FeatureCollection"]
    features: list[ChangedAddress]


class ZoneChange(BaseModel):
    """A zone pairing as a GeoJSON feature: how the zone changed, with its outline."""

    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class ZoneChanges(BaseModel):
    """Zone changes as a GeoJSON FeatureCollection (EPSG:4326)."""

    type: Literal["FeatureCollection"]
    features: list[ZoneChange]


class ChangesAnswer(BaseModel):
    """What changed from one release to another."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="The older release.")
    to: str = Field(description="The newer release.")
    identical: bool = Field(description="Built from byte-identical inputs: nothing changed.")
    rule_set: str | None
    municipalities: list[str] | None
    generated: bool = Field(description="Either release holds generated (synthetic) records.")
    addresses_from: int
    addresses_to: int
    sources: list[SourceChangeOut]
    totals: dict[str, int] = Field(description="Changed addresses per kind, all municipalities.")
    zone_totals: dict[str, int]
    counts: list[MunicipalityChanges]
    matched: int = Field(description="Changed addresses of the asked kinds.")
    truncated: bool = Field(description="`changes` holds only the first `limit` of `matched`.")
    changes: ChangedAddresses
    zones_matched: int = Field(description="Zones that changed (all but `unchanged`).")
    zones_truncated: bool = Field(description="`zones` holds only the first `limit`.")
    zones: ZoneChanges


@router.get(
    "/api/changes",
    response_model=ChangesAnswer,
    response_model_by_alias=True,
    responses=ERROR_RESPONSES,
)
def changes(
    request: Request,
    params: Annotated[ChangesParams, Depends()],
    watcher: Annotated[ReleaseWatcher, Depends(get_watcher)],
) -> dict[str, Any]:
    """Changes between two releases (default: the served release and the one before it): per
    address, per municipality, per zone, and which input files changed."""
    kinds = parse_kinds(params.kind)  # a bad kind is refused before any work
    to_id = params.to or watcher.get().release.id
    older, newer = releases_to_compare(watcher.store, params.from_, to_id)
    rules = None
    if params.rules is None or params.rules.strip().lower() not in _NO_RULES:
        rules = get_rule_set(params.rules)
    munis = params.municipality or None
    if munis is not None and len(munis) > 99:
        raise InvalidRequestError("at most 99 municipalities per request")
    key = (older.id, newer.id, rules.id if rules else None, tuple(sorted(munis or [])))
    diff = _cache(request).get(key, lambda: diff_releases(older, newer, rules, munis))
    selected = select_kinds(diff.changes, kinds)
    moved = diff.zones[diff.zones["change"] != "unchanged"]
    summary = diff.summary()
    return {
        **{k: summary[k] for k in ("identical", "rule_set", "municipalities", "generated")},
        "from": diff.from_id,
        "to": diff.to_id,
        "addresses_from": diff.addresses_from,
        "addresses_to": diff.addresses_to,
        "sources": summary["sources"],
        "totals": summary["totals"],
        "zone_totals": summary["zone_totals"],
        "counts": [_counts(row) for row in summary["counts"]],
        "matched": len(selected),
        "truncated": len(selected) > params.limit,
        "changes": _changes_geojson(selected.head(params.limit)),
        "zones_matched": len(moved),
        "zones_truncated": len(moved) > params.limit,
        "zones": _zones_geojson(moved.head(params.limit)),
    }


def _changes_geojson(changes: gpd.GeoDataFrame) -> dict[str, Any]:
    """Changed addresses as a GeoJSON FeatureCollection in EPSG:4326 (RFC 7946)."""
    features = []
    for record in change_records(changes):
        lon, lat = record.pop("lon"), record.pop("lat")
        point = {"type": "Point", "coordinates": [lon, lat]} if lon is not None else None
        features.append(
            {"type": "Feature", "id": record["address_id"], "geometry": point, "properties": record}
        )
    return {"type": "FeatureCollection", "features": features}


def _zones_geojson(zones: gpd.GeoDataFrame) -> dict[str, Any]:
    """Zone changes as a GeoJSON FeatureCollection in EPSG:4326, outlines to about 1 cm."""
    lonlat = zones.geometry.to_crs(WEB_CRS).to_numpy() if len(zones) else np.empty(0, object)
    shapes = shapely.to_geojson(shapely.set_precision(lonlat, 1e-7))
    features = [
        {
            "type": "Feature",
            "id": record["zone_id"],
            "geometry": json.loads(shape) if shape is not None else None,
            "properties": record,
        }
        for record, shape in zip(zone_records(zones), shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _counts(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kommunekode": row["kommunekode"],
        "kommunenavn": row["kommunenavn"],
        "changed": row["changed"],
        "kinds": {k: row[k] for k in CHANGE_KINDS},
    }


class _DiffCache:
    """A small LRU of diffs by (from, to, rules, municipalities); safe across request threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], ReleaseDiff] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Any) -> ReleaseDiff:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        diff: ReleaseDiff = compute()  # outside the lock: other requests need not wait
        with self._lock:
            self._items[key] = diff
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return diff


def _cache(request: Request) -> _DiffCache:
    """The app's diff cache, made on first use (two racing first requests cost one extra diff)."""
    state = request.app.state
    if getattr(state, "changes_cache", None) is None:
        state.changes_cache = _DiffCache(CACHE_SIZE)
    cache: _DiffCache = state.changes_cache
    return cache


__all__ = ["ChangesAnswer", "ChangesParams", "router"]
