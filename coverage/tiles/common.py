"""What vector and raster tiles share: the tile matrix, layer descriptions, range checks, TileJSON.

Tiles are addressed on the OGC *WebMercatorQuad* matrix (EPSG:3857, the ``{z}/{x}/{y}`` scheme of
every web map) through morecantile. A layer is described by a :class:`LayerInfo`: the service turns
it into a TileJSON 3.0 document and checks every request against its zoom range before any work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import morecantile
import numpy as np
from pyproj import Transformer

from coverage.errors import NotFoundError

#: The tile matrix set of every tile served: web mercator, 256 px tiles, zoom 0 at one tile.
TMS = morecantile.tms.get("WebMercatorQuad")

#: Version of the tile contents. Part of every tile's cache key: change it when the encoding or the
#: styling of tiles changes, so caches do not keep tiles drawn the old way for the same release.
TILE_SCHEMA_VERSION = "1"

#: The web map CRS tiles are cut in.
TILE_CRS = "EPSG:3857"

#: Layer ids as they appear in URLs: lower case letters, digits, ``_``, ``-`` and ``.``.
LAYER_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")

Kind = Literal["vector", "raster"]


@dataclass(frozen=True)
class LayerInfo:
    """One tile layer as a client sees it: id, what it shows, zoom range, bounds, fields."""

    id: str
    kind: Kind
    title: str
    description: str
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]
    """Lon/lat (west, south, east, north) of the data."""
    base: str = ""
    """The layer family (``zones`` for ``zones-2024-2025``); the id itself when it has none."""
    rule_set: str | None = None
    """The pool rule set of a rule-dependent layer (zones, addresses, grid)."""
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    """MVT layer name → {field: description} (vector layers only), for TileJSON ``vector_layers``."""
    attribution: tuple[str, ...] = ()
    generated: bool = False
    """Whether any feature or pixel of the layer comes from generated (synthetic) data."""

    @property
    def format(self) -> str:
        """File extension of the layer's tiles: ``mvt`` or ``png``."""
        return "mvt" if self.kind == "vector" else "png"

    @property
    def center(self) -> tuple[float, float, int]:
        """Lon, lat and a zoom to open the layer at (TileJSON ``center``)."""
        w, s, e, n = self.bounds
        zoom = min(max(self.minzoom, 8), self.maxzoom)
        return ((w + e) / 2, (s + n) / 2, zoom)


def check_tile(info: LayerInfo, z: int, x: int, y: int) -> morecantile.Tile:
    """The tile if it exists in the layer's zoom range and the matrix; :class:`NotFoundError`
    otherwise (a tile that does not exist is a 404, never an error in the server)."""
    if not info.minzoom <= z <= info.maxzoom:
        raise NotFoundError(
            f"tile {z}/{x}/{y}: layer {info.id!r} has zoom levels {info.minzoom} to {info.maxzoom}"
        )
    last = (1 << z) - 1
    if not (0 <= x <= last and 0 <= y <= last):
        raise NotFoundError(
            f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y run from 0 to {last}"
        )
    return morecantile.Tile(x, y, z)


def tile_key(release_id: str, layer_id: str, z: int, x: int, y: int) -> str:
    """The identity of one tile's contents: release, layer (its rule set is part of the id), tile
    and :data:`TILE_SCHEMA_VERSION`. A release never changes, so equal keys mean equal bytes."""
    return f"{TILE_SCHEMA_VERSION}/{release_id}/{layer_id}/{z}/{x}/{y}"


def lonlat_bounds(
    bounds: tuple[float, float, float, float] | np.ndarray, crs: str
) -> tuple[float, float, float, float]:
    """Bounds in another CRS as lon/lat, densified along the edges (a UTM box is not a lon/lat box)."""
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = (float(v) for v in bounds)
    w, s, e, n = transformer.transform_bounds(x0, y0, x1, y1, densify_pts=21)
    return (round(w, 6), round(s, 6), round(e, 6), round(n, 6))


def tilejson(
    info: LayerInfo,
    tiles_url: str,
    *,
    version: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document for a layer; ``tiles_url`` is the URL template (``{z}/{x}/{y}``).

    Vector layers list their MVT layers and fields in ``vector_layers``, as TileJSON 3 requires.
    ``extra`` adds fields (TileJSON allows custom keys), e.g. a raster layer's legend URL.
    """
    lon, lat, zoom = info.center
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": info.id,
        "description": info.description,
        "version": version,
        "attribution": " · ".join(info.attribution),
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": info.minzoom,
        "maxzoom": info.maxzoom,
        "bounds": list(info.bounds),
        "center": [round(lon, 6), round(lat, 6), zoom],
    }
    if info.kind == "vector":
        doc["vector_layers"] = [
            {
                "id": name,
                "fields": fields,
                "minzoom": info.minzoom,
                "maxzoom": info.maxzoom,
                "description": info.title,
            }
            for name, fields in info.fields.items()
        ]
    doc.update(extra or {})
    return doc


__all__ = [
    "LAYER_ID",
    "TILE_CRS",
    "TILE_SCHEMA_VERSION",
    "TMS",
    "Kind",
    "LayerInfo",
    "check_tile",
    "lonlat_bounds",
    "tile_key",
    "tilejson",
]
