"""Vector and raster tiles: ``/tiles``, TileJSON, MVT and PNG tiles, raster legends.

The tile layers of a release are built once per loaded release (on the first tile request, in the
threadpool) and kept with that release's state, so a hot reload brings its own. Tiles carry
``Cache-Control`` and a strong ``ETag`` derived from the release id, layer (its rule set is part of
the id) and tile; a matching ``If-None-Match`` is answered 304 before anything is drawn. A tile with
nothing in it is 204; an unknown layer or a tile outside the layer's range is 404.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from coverage.errors import NotFoundError
from coverage.memory import release_memory
from coverage.tiles import LayerInfo, RasterTiler, TileSet, VectorTiler, check_tile, tilejson
from service.dependencies import BaseUrl, RulesParam, Settings, State
from service.errors import ERROR_RESPONSES
from service.state import ServiceState

router = APIRouter(prefix="/tiles", tags=["tiles"])
log = logging.getLogger("netkort.service")

MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"

#: Where a state keeps its tile set (like ``functools.cached_property`` keeps its value).
_ATTRIBUTE = "_netkort_tiles"
_build_lock = threading.Lock()


def get_tiles(state: State) -> TileSet:
    """The tile layers of the state's release, built on first use and kept with the state."""
    tiles: TileSet | None = state.__dict__.get(_ATTRIBUTE)
    if tiles is None:
        with _build_lock:  # one build per release, however many tiles ask at once
            tiles = state.__dict__.get(_ATTRIBUTE)
            if tiles is None:
                tiles = build_tiles(state)
                state.__dict__[_ATTRIBUTE] = tiles
                # The newest rule set's layers are built in the background, so the first tiles
                # of a session do not each pay for indexing a layer.
                threading.Thread(
                    target=_warm,
                    args=(tiles,),
                    name=f"netkort-tiles-{tiles.release_id}",
                    daemon=True,
                ).start()
    return tiles


def _warm(tiles: TileSet) -> None:
    try:
        tiles.vector.warm()
    except Exception:  # a layer that cannot be built fails its own tiles later, loudly
        log.exception("tiles of release %s: warming failed", tiles.release_id)
    release_memory()  # building the layers leaves freed pages behind; the service lives long


def build_tiles(state: ServiceState) -> TileSet:
    """A tile set from what the state already holds: addresses, assessments, zones, boundaries."""
    assert state.context.municipalities is not None
    vector = VectorTiler(
        state.context.municipalities,
        state.index.table,  # east / north: no geometry objects for 850,000 addresses
        state.context.assessments,
        state.context.zones,
        attribution=tuple(state.release.manifest.get("attribution", [])),
        unique_ids=True,  # a release's address ids are unique: the build quarantines repeats
    )
    return TileSet(state.release.id, vector, RasterTiler.from_release(state.release))


Tiles = Annotated[TileSet, Depends(get_tiles)]
LayerId = Annotated[
    str, PathParam(description="Layer id, e.g. municipalities, zones-2024-2025.", max_length=100)
]
ReleaseParam = Annotated[
    str | None,
    Query(
        description="Release the client expects (TileJSON puts it in tile URLs as a cache key).",
        max_length=100,
    ),
]
IfNoneMatch = Annotated[str | None, Header(description="ETag(s) the client holds.")]


class TileLayerOut(BaseModel):
    """One tile layer and where to get it."""

    id: str
    kind: str = Field(description="vector (MVT) or raster (PNG).")
    title: str
    description: str
    rule_set: str | None
    minzoom: int
    maxzoom: int
    bounds: list[float] = Field(description="west, south, east, north (lon/lat).")
    generated: bool
    tilejson: str
    tiles: str = Field(description="Tile URL template.")
    legend: str | None = Field(description="Legend URL (raster layers).")


class TileLayerList(BaseModel):
    """The tile layers of the loaded release."""

    release_id: str
    layers: list[TileLayerOut]
    aliases: dict[str, str] = Field(
        description="Family names standing for the newest rule set's layer (zones → zones-2024-2025)."
    )
    problems: list[str] = Field(description="Raster layers of the release that cannot be served.")


class VectorLayerOut(BaseModel):
    """An MVT layer inside the tiles and its fields."""

    id: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int
    description: str


class TileJSON(BaseModel):
    """A TileJSON 3.0.0 document."""

    tilejson: str
    name: str
    description: str
    version: str
    attribution: str
    scheme: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    vector_layers: list[VectorLayerOut] | None = None
    legend: str | None = Field(None, description="Legend URL of a raster layer (netkort).")


class LegendEntry(BaseModel):
    """One colour band: values in [min, max)."""

    min: float
    max: float
    colour: str = Field(description="#rrggbb")
    opacity: float
    label_da: str
    label_en: str


class Legend(BaseModel):
    """A raster layer's colour map."""

    layer: str
    colour_map: str
    title: str
    units: str
    description: str
    entries: list[LegendEntry] = Field(description="Highest values first.")


def _urls(base: str, tiles: TileSet, info: LayerInfo) -> dict[str, Any]:
    root = f"{base}/tiles/{info.id}"
    return {
        "tilejson": f"{root}.json",
        "tiles": f"{root}/{{z}}/{{x}}/{{y}}.{info.format}?release={tiles.release_id}",
        "legend": f"{root}/legend" if info.kind == "raster" else None,
    }


@router.get("", response_model=TileLayerList, responses=ERROR_RESPONSES)
def layers(tiles: Tiles, base: BaseUrl) -> dict[str, Any]:
    """Every tile layer of the release: municipalities, per rule set zones, addresses and grid
    cells (vector), and the release's rasters (PNG)."""
    return {
        "release_id": tiles.release_id,
        "layers": [
            {
                "id": i.id,
                "kind": i.kind,
                "title": i.title,
                "description": i.description,
                "rule_set": i.rule_set,
                "minzoom": i.minzoom,
                "maxzoom": i.maxzoom,
                "bounds": list(i.bounds),
                "generated": i.generated,
                **_urls(base, tiles, i),
            }
            for i in tiles.layers()
        ],
        "aliases": tiles.vector.aliases(),
        "problems": tiles.raster.problems,
    }


@router.get(
    "/{layer}.json",
    response_model=TileJSON,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
)
def layer_tilejson(
    tiles: Tiles, base: BaseUrl, layer: LayerId, rules: Annotated[RulesParam, Depends()]
) -> dict[str, Any]:
    """TileJSON 3.0 of a layer; ``zones`` with ``rules`` names the rule set's own layer, whose id
    is what the tile URL carries."""
    info = tiles.layer(layer, rules.rules)
    urls = _urls(base, tiles, info)
    extra = {"legend": urls["legend"]} if urls["legend"] else None
    return tilejson(info, urls["tiles"], version=tiles.release_id, extra=extra)


@router.get("/{layer}/legend", response_model=Legend, responses=ERROR_RESPONSES)
def legend(tiles: Tiles, layer: LayerId) -> dict[str, Any]:
    """The colour map of a raster layer: one entry per band, with Danish and English labels."""
    return tiles.legend(layer)


def _tile_responses(media: str) -> dict[int | str, dict[str, Any]]:
    return {
        **ERROR_RESPONSES,
        200: {"content": {media: {}}, "description": "The tile."},
        204: {"description": "Nothing in this tile."},
        304: {"description": "The tile the client holds (If-None-Match) is current."},
    }


@router.get("/{layer}/{z}/{x}/{y}.mvt", response_class=Response, responses=_tile_responses(MVT))
def vector_tile(
    tiles: Tiles,
    settings: Settings,
    layer: LayerId,
    z: int,
    x: int,
    y: int,
    rules: Annotated[RulesParam, Depends()],
    release: ReleaseParam = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A Mapbox vector tile (MVT 2.1, 4096 units, WebMercatorQuad)."""
    info = tiles.layer(layer, rules.rules)
    return _tile(tiles, info, "mvt", z, x, y, settings.tile_max_age, release, if_none_match)


@router.get("/{layer}/{z}/{x}/{y}.png", response_class=Response, responses=_tile_responses(PNG))
def raster_tile(
    tiles: Tiles,
    settings: Settings,
    layer: LayerId,
    z: int,
    x: int,
    y: int,
    release: ReleaseParam = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A 256×256 RGBA PNG of a raster layer drawn with its colour map (see its legend)."""
    info = tiles.layer(layer)
    return _tile(tiles, info, "png", z, x, y, settings.tile_max_age, release, if_none_match)


def _tile(
    tiles: TileSet,
    info: LayerInfo,
    fmt: str,
    z: int,
    x: int,
    y: int,
    max_age: int,
    release: str | None,
    if_none_match: str | None,
) -> Response:
    if info.format != fmt:
        raise NotFoundError(
            f"layer {info.id!r} is a {info.kind} layer: its tiles end in .{info.format}",
            [{"id": info.id, "text": f"/tiles/{info.id}/{z}/{x}/{y}.{info.format}"}],
        )
    check_tile(info, z, x, y)  # before the ETag: a tile that cannot exist is 404, never 304
    etag = '"' + hashlib.sha256(tiles.key(info, z, x, y).encode()).hexdigest()[:32] + '"'
    # A client holding an older release's URL gets this release's tile, but no cache may keep it
    # under that URL for long.
    stale = release is not None and release != tiles.release_id
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache" if stale else f"public, max-age={max_age}",
    }
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    data = tiles.tile(info, z, x, y)
    if data is None:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT if fmt == "mvt" else PNG, headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names the ETag (weak comparison, as RFC 9110 asks for GET)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in (t.strip().removeprefix("W/") for t in header.split(","))


__all__ = ["build_tiles", "get_tiles", "router"]
