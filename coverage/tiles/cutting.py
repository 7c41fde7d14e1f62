"""Cutting one layer's features into a vector tile.

A layer is reprojected to EPSG:3857 once, indexed once and keeps its properties factorised
(:mod:`coverage.tiles.mvt`). A tile is then a handful of array calls:

1. the tile's bounds from morecantile's WebMercatorQuad plus a buffer of :data:`BUFFER` units, so
   strokes and symbols at tile edges join up;
2. the candidates: for a :class:`PointLayer` two ``searchsorted`` calls on the points sorted by x
   and a filter on y (no geometry objects: shapely points and an STRtree for a region's 850,000
   addresses took well over a second to build, a sort takes a fifth of that); for a
   :class:`PolygonLayer` one STRtree query;
3. points: shifted and scaled into the 4096-unit tile grid with numpy;
   polygons: those under :data:`TINY_PIXELS` pixels left out, the layer simplified for the zoom
   (cached per zoom; municipalities with ``coverage_simplify`` so neighbours keep one shared
   border), ``clip_by_rect`` for the few that cross the buffered tile edge, then rings, rounding,
   winding and commands for all of them at once;
4. the vectorised MVT writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import morecantile
import numpy as np
import shapely
from pyproj import Transformer

from coverage.tiles.common import TILE_CRS, TMS
from coverage.tiles.mvt import (
    POINT,
    POLYGON,
    PropertyTable,
    encode_layer,
    point_commands,
    polygon_commands,
)

#: MVT grid units per tile side.
EXTENT = 4096
#: Units drawn beyond each tile edge (1/64 of the tile), so lines and symbols meet at seams.
BUFFER = 64
#: Simplification tolerance in tile units (16 units make one pixel of a 256 px tile).
SIMPLIFY_UNITS = 2.0
#: Polygons smaller than this many pixels (of a 256 px tile) are left out of a tile: they would
#: draw as nothing. From zoom 10 a 100 m zone is more than a pixel.
TINY_PIXELS = 1.0


def _window(tile: morecantile.Tile) -> tuple[morecantile.BoundingBox, float, tuple[float, ...]]:
    """The tile's EPSG:3857 bounds, units per metre, and the bounds grown by the buffer."""
    b = TMS.xy_bounds(tile)
    scale = EXTENT / (b.right - b.left)
    pad = BUFFER / scale
    return b, scale, (b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)


@dataclass
class PointLayer:
    """Points in EPSG:3857 sorted by x, the property row of each, and the properties."""

    x: np.ndarray
    y: np.ndarray
    row: np.ndarray
    props: PropertyTable

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, props: PropertyTable) -> PointLayer:
        """Index points (EPSG:3857; row ``i`` has property row ``i``); NaN positions are left out."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        located = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        order = located[np.argsort(x[located], kind="stable")]
        return cls(x[order], y[order], order, props)

    @classmethod
    def from_frame(cls, frame: gpd.GeoDataFrame) -> PointLayer:
        """Every column of a point GeoDataFrame (any CRS) as a property."""
        geoms = frame.geometry.array
        x, y = to_tile_crs(shapely.get_x(geoms), shapely.get_y(geoms), str(frame.crs))
        return cls.build(x, y, PropertyTable.from_frame(frame))

    def with_props(self, props: PropertyTable) -> PointLayer:
        """The same points with other properties (e.g. another rule set's)."""
        return replace(self, props=props)

    def tile(self, tile: morecantile.Tile, name: str) -> bytes | None:
        """One MVT layer ``name`` with the points inside ``tile`` (None when there are none)."""
        b, scale, window = _window(tile)
        lo = int(np.searchsorted(self.x, window[0], side="left"))
        hi = int(np.searchsorted(self.x, window[2], side="right"))
        y = self.y[lo:hi]
        inside = (y >= window[1]) & (y <= window[3])
        rows = self.row[lo:hi][inside]
        if rows.size == 0:
            return None
        order = np.argsort(rows)  # features in property order: the same tile, the same bytes
        rows = rows[order]
        x, y = self.x[lo:hi][inside][order], y[inside][order]
        stream, lengths = point_commands(
            np.rint((x - b.left) * scale), np.rint((b.top - y) * scale)
        )
        return encode_layer(name, POINT, stream, lengths, self.props, rows, EXTENT)


def to_tile_crs(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from a CRS into EPSG:3857."""
    transformer = Transformer.from_crs(crs, TILE_CRS, always_xy=True)
    tx, ty = transformer.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(tx), np.asarray(ty)


@dataclass
class PolygonLayer:
    """(Multi)polygons in EPSG:3857, their STRtree, areas and properties."""

    geoms: np.ndarray
    tree: shapely.STRtree
    area: np.ndarray
    props: PropertyTable
    simplify: str = "none"
    """``none``, ``each`` (polygon by polygon) or ``coverage`` (shared borders stay shared)."""
    _by_zoom: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frame(cls, frame: gpd.GeoDataFrame, simplify: str = "none") -> PolygonLayer:
        """Every column of a polygon GeoDataFrame (any CRS) as a property."""
        geoms = np.asarray(frame.to_crs(TILE_CRS).geometry.array, dtype=object)
        tree = shapely.STRtree(geoms)
        return cls(geoms, tree, shapely.area(geoms), PropertyTable.from_frame(frame), simplify)

    def with_props(self, props: PropertyTable) -> PolygonLayer:
        """The same geometries and index with other properties (e.g. another rule set's)."""
        return replace(self, props=props, _by_zoom={})

    def at_zoom(self, z: int) -> np.ndarray:
        """The geometries simplified for a zoom level (computed once per zoom).

        A simplified geometry equal to one already held (the original's, or the nearest zooms'
        simplification) is that object, not a copy: zones are unions of 100 m cells, and from
        about zoom 10 the tolerance is far below a cell edge, so seventeen zooms would otherwise
        hold the same polygons again and again.
        """
        if self.simplify == "none":
            return self.geoms
        cached = self._by_zoom.get(z)
        if cached is None:
            tolerance = unit(z) * SIMPLIFY_UNITS
            simplified = _simplify(self.geoms, tolerance, coverage=self.simplify == "coverage")
            held = dict(self._by_zoom)  # other threads may add zooms meanwhile
            nearest = sorted(held, key=lambda k: (abs(k - z), -k))[:2]
            cached = _reuse(simplified, [*(held[k] for k in nearest), self.geoms])
            self._by_zoom[z] = cached
        return cached

    def tile(self, tile: morecantile.Tile, name: str) -> bytes | None:
        """One MVT layer ``name`` with the polygons inside ``tile`` (None when there are none)."""
        b, scale, window = _window(tile)
        hits = np.sort(self.tree.query(shapely.box(*window)))
        hits = hits[self.area[hits] >= TINY_PIXELS * (unit(tile.z) * EXTENT / 256) ** 2]
        geoms = self.at_zoom(tile.z)[hits]
        bounds = shapely.bounds(geoms).reshape(-1, 4)
        crossing = ~(
            (bounds[:, 0] >= window[0])
            & (bounds[:, 1] >= window[1])
            & (bounds[:, 2] <= window[2])
            & (bounds[:, 3] <= window[3])
        )
        if crossing.any():  # only what crosses the buffered tile edge needs clipping
            geoms = geoms.copy()
            geoms[crossing] = shapely.clip_by_rect(geoms[crossing], *window)
        stream, lengths, kept = polygon_commands(geoms, (b.left, b.top), scale)
        hits = hits[kept]
        if hits.size == 0:
            return None
        return encode_layer(name, POLYGON, stream, lengths, self.props, hits, EXTENT)


def unit(z: int) -> float:
    """Size of one MVT unit at zoom ``z`` in EPSG:3857 metres."""
    b = TMS.xy_bounds(morecantile.Tile(0, 0, z))
    return (b.right - b.left) / EXTENT


def _simplify(geoms: np.ndarray, tolerance: float, *, coverage: bool) -> np.ndarray:
    """Simplified polygons; a coverage (municipalities) keeps shared borders shared."""
    if coverage:
        try:
            out = np.asarray(shapely.coverage_simplify(geoms, tolerance), dtype=object)
            if shapely.is_valid(out).all():
                return out
        except shapely.errors.GEOSException:
            pass  # not a clean coverage (overlaps in the source): simplify polygon by polygon
    return np.asarray(shapely.simplify(geoms, tolerance, preserve_topology=True), dtype=object)


def _reuse(geoms: np.ndarray, held: list[np.ndarray]) -> np.ndarray:
    """``geoms`` with each geometry exactly equal (same coordinates in the same order, so the
    same tile bytes) to its counterpart in a ``held`` array replaced by that one; a held array
    itself when every geometry equals its own."""
    out = geoms
    todo = np.arange(len(geoms))
    for other in held:
        if todo.size == 0:
            break
        same = shapely.equals_exact(geoms[todo], other[todo], tolerance=0)
        if same.all() and todo.size == len(geoms):
            return other
        if same.any():
            out = out.copy() if out is geoms else out
            out[todo[same]] = other[todo[same]]
            todo = todo[~same]
    return out


#: What a vector tiler keeps per layer.
FeatureLayer = PointLayer | PolygonLayer

__all__ = [
    "BUFFER",
    "EXTENT",
    "SIMPLIFY_UNITS",
    "TINY_PIXELS",
    "FeatureLayer",
    "PointLayer",
    "PolygonLayer",
    "to_tile_crs",
    "unit",
]
