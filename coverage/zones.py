"""Underserved zones: selected addresses gathered on the national DDKN grid and merged into areas.

A planner asks "where are the gaps, and which addresses belong together in one project?". The answer
here is built from the address points outwards, on the national grid (Det Danske Kvadratnet,
EPSG:25832), so that zones are comparable between municipalities and years:

1. every selected address falls in one DDKN cell (100 m by default);
2. cells of the same municipality that share an **edge** belong to one zone. Cells that touch only at
   a corner (diagonal neighbours) are *not* adjacent: a zone joined through a single point is not an
   area a contractor can dig through, and counting corners would chain long diagonal strings of farms
   into one "zone". Corner neighbours still join when the distance rule below says so;
3. optionally, two cells join when they hold selected addresses within ``join_distance`` metres of
   each other (e.g. 200 m: a fibre trench between neighbouring farms across a field);
4. each zone's cells are merged with :func:`shapely.coverage_union_all` (cells are a perfect coverage,
   so the fast coverage union is exact) and clipped to the municipality polygon.

Joining is a graph over cells, not over address buffers: nodes are occupied cells, edges are shared
cell edges plus cell pairs with two selected addresses within the distance (one chunked STRtree
``dwithin`` bulk query). Connected components come from a numpy union-find (hook roots onto smaller
roots with ``np.minimum.at``, then pointer-jump), which needs no scipy and no Python loop over cells.
Working on cells keeps the graph small (a 100 m cell holds up to a few hundred addresses) and makes
the zone boundary the grid boundary, which is what the EU mapping guidelines and DDKN users expect.

Zone ids are derived from content only: ``<kommunekode>-<DDKN name of the zone's lowest-left cell>-
<label>``, where lowest-left is the southernmost row and, within it, the westernmost cell. The same
input in any row order gives the same ids, and a zone keeps its id when it grows to the north or east.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from coverage.errors import InvalidRequestError
from coverage.grid import CELL_PREFIX, cell_boxes, cell_indices, cell_names
from coverage.selection import (
    ELIGIBLE_CLASSES,
    eligible_mask,
    parse_speed_threshold,
    threshold_label,
    threshold_mask,
)
from coverage.types import WORK_CRS

#: Columns of the zones layer, in order.
ZONE_COLUMNS = [
    "zone_id", "label", "kommunekode", "kommunenavn", "addresses", "eligible", "eligible_blue",
    "eligible_if_zone", "unknown_zone", "min_fixed_down", "median_fixed_down",
    "median_mobile_down", "mobile_below_100", "area_km2", "cells", "anchor_cell", "generated",
    "geometry",
]  # fmt: skip

#: Addresses per STRtree bulk query: bounds the memory of the pair arrays in dense towns.
_QUERY_CHUNK = 20_000


# --------------------------------------------------------------------------------------------------
# Zones


def underserved_zones(
    addresses: gpd.GeoDataFrame,
    mask: np.ndarray,
    municipalities: gpd.GeoDataFrame,
    *,
    assessment: pd.DataFrame | None = None,
    join_distance: float | None = 200.0,
    cell_size: int = 100,
    label: str,
) -> gpd.GeoDataFrame:
    """Merge the selected addresses into zones on the DDKN grid, one set of zones per municipality.

    ``mask`` selects addresses (aligned with ``addresses``); ``assessment``, when given, is the
    per-address assessment in the same order and feeds the class counts and speed summaries.
    ``join_distance`` (metres, or None) also joins cells holding selected addresses that close to each
    other. Returns a GeoDataFrame with :data:`ZONE_COLUMNS` in EPSG:25832, sorted by municipality and
    the zone's lowest-left cell; geometries are MultiPolygons clipped to the municipality.
    """
    if cell_size not in CELL_PREFIX:
        raise InvalidRequestError(
            f"cell size {cell_size} is not a DDKN cell size; expected one of {sorted(CELL_PREFIX)}"
        )
    if join_distance is not None and not (np.isfinite(join_distance) and join_distance >= 0):
        raise InvalidRequestError(
            f"join distance {join_distance!r} must be a non-negative number of metres"
        )
    addresses = _in_work_crs(addresses)
    selected = _checked_mask(mask, len(addresses))
    _check_aligned(addresses, assessment)
    x, y = address_xy(addresses)
    selected &= np.isfinite(x) & np.isfinite(y)
    idx = np.flatnonzero(selected)
    if len(idx) == 0:
        return _empty(ZONE_COLUMNS)

    # Texts of the selected addresses only: the whole column as Python strings is ~50 MB at
    # 850,000 addresses, per column and rule set.
    kode = addresses["kommunekode"].iloc[idx].astype("string").to_numpy(dtype=object)
    rows, cols = cell_indices(x[idx], y[idx], cell_size)
    cells = _occupied_cells(kode, rows, cols)
    edges = [cells.rook_edges()]
    if join_distance:
        edges.append(_distance_edges(x[idx], y[idx], cells, float(join_distance)))
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    root = _components(len(cells.key), a, b)
    # The root of each component is its smallest cell index, and cells are sorted by (municipality,
    # row, column): so the root is the zone's lowest-left cell and the zones come out sorted by it.
    anchors, zone_of_cell = np.unique(root, return_inverse=True)
    zone_of_address = zone_of_cell[cells.of_address]

    boxes = cell_boxes(cells.row, cells.col, cell_size)
    merged = _union_groups(boxes, zone_of_cell, len(anchors))
    zone_kode = cells.kode[anchors]
    geometry, names = _clip(merged, boxes, zone_of_cell, zone_kode, municipalities)

    anchor_names = cell_names(
        cells.col[anchors].astype("float64") * cell_size,
        cells.row[anchors].astype("float64") * cell_size,
        cell_size,
    )
    slug = _slug(label)
    stats = _zone_stats(addresses, assessment, idx, zone_of_address, len(anchors))
    fallback_names = (
        addresses["kommunenavn"].iloc[idx].astype("string").to_numpy(dtype=object)
        if "kommunenavn" in addresses.columns
        else np.full(len(idx), None, dtype=object)
    )
    first_name = pd.Series(fallback_names).groupby(zone_of_address).first().to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "zone_id": [f"{k}-{c}-{slug}" for k, c in zip(zone_kode, anchor_names, strict=True)],
            "label": label,
            "kommunekode": zone_kode,
            "kommunenavn": np.where(pd.isna(names), first_name, names),
            **stats,
            "area_km2": shapely.area(geometry) / 1e6,
            "cells": np.bincount(zone_of_cell, minlength=len(anchors)).astype("int64"),
            "anchor_cell": anchor_names,
        }
    )
    for column in ("zone_id", "label", "kommunekode", "kommunenavn", "anchor_cell"):
        frame[column] = frame[column].astype("string")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=WORK_CRS)[ZONE_COLUMNS]


class _Cells:
    """Occupied cells, one per (municipality, row, column), sorted in that order."""

    def __init__(self, key: np.ndarray, width: int, height: int, base: tuple[int, int]) -> None:
        self.key = key
        self.width = width  # columns per row in the key space, with one spare column
        self.height = height  # rows per municipality in the key space, with one spare row
        self.muni = key // (width * height)
        rem = key % (width * height)
        self.row = rem // width + base[0]
        self.col = rem % width + base[1]
        self.of_address = np.empty(0, dtype="int64")
        self.kode = np.empty(0, dtype=object)

    def rook_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of cells sharing an edge: the east and the north neighbour of each cell."""
        n = len(self.key)
        a_parts, b_parts = [], []
        # The spare column / row in the key space means +1 / +width never wraps into the next
        # row or the next municipality, so a key lookup is an exact neighbour test.
        for step in (1, self.width):
            target = self.key + step
            pos = np.searchsorted(self.key, target)
            found = pos < n
            found[found] = self.key[pos[found]] == target[found]
            a_parts.append(np.flatnonzero(found))
            b_parts.append(pos[found])
        return np.concatenate(a_parts), np.concatenate(b_parts)


def _occupied_cells(kode: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> _Cells:
    codes, muni = np.unique(kode.astype(str), return_inverse=True)
    base = (int(rows.min()), int(cols.min()))
    width = int(cols.max()) - base[1] + 2
    height = int(rows.max()) - base[0] + 2
    key = muni.astype("int64") * (width * height) + (rows - base[0]) * width + (cols - base[1])
    unique_keys, of_address = np.unique(key, return_inverse=True)
    cells = _Cells(unique_keys, width, height, base)
    cells.of_address = of_address
    cells.kode = codes[cells.muni].astype(object)
    return cells


def _distance_edges(
    x: np.ndarray, y: np.ndarray, cells: _Cells, distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cell pairs of one municipality holding two selected addresses within ``distance``."""
    points = shapely.points(x, y)
    tree = shapely.STRtree(points)
    of = cells.of_address
    found: list[np.ndarray] = []
    n_cells = len(cells.key)
    for start in range(0, len(points), _QUERY_CHUNK):
        part = points[start : start + _QUERY_CHUNK]
        i, j = tree.query(part, predicate="dwithin", distance=distance)
        ci, cj = of[i + start], of[j]
        keep = (ci < cj) & (cells.muni[ci] == cells.muni[cj])
        if keep.any():
            found.append(np.unique(ci[keep] * n_cells + cj[keep]))
    if not found:
        empty = np.empty(0, dtype="int64")
        return empty, empty
    pairs = np.unique(np.concatenate(found))
    return pairs // n_cells, pairs % n_cells


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of an undirected graph: each node's root is its component's minimum."""
    parent = np.arange(n)
    while True:
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            return parent
        lo, hi = np.minimum(pa, pb)[differ], np.maximum(pa, pb)[differ]
        # Roots only ever point to smaller indices, so no cycle can form.
        np.minimum.at(parent, hi, lo)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def _union_groups(geoms: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Coverage union of the cells of each group, vectorised per group-size bucket.

    ``coverage_union_all(..., axis=1)`` unions the rows of a 2-D array and ignores ``None``: groups
    are padded to the next power of two in size, so at most half of each bucket is padding.
    """
    order = np.argsort(group, kind="stable")
    sorted_geoms = geoms[order]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    bucket = np.ceil(np.log2(counts)).astype("int64")
    out = np.empty(n_groups, dtype=object)
    for level in np.unique(bucket):
        members = np.flatnonzero(bucket == level)
        sizes = counts[members]
        table = np.full((len(members), 2 ** int(level)), None, dtype=object)
        row = np.repeat(np.arange(len(members)), sizes)
        col = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        table[row, col] = sorted_geoms[np.repeat(starts[members], sizes) + col]
        out[members] = shapely.coverage_union_all(table, axis=1)
    # Cell corners along straight zone edges are redundant vertices; tolerance 0 drops only those.
    return shapely.simplify(out, 0.0)


def _clip(
    merged: np.ndarray,
    boxes: np.ndarray,
    zone_of_cell: np.ndarray,
    zone_kode: np.ndarray,
    municipalities: gpd.GeoDataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Clip zones to their municipality; return MultiPolygons and municipality names.

    Cells lying wholly outside the (generalised) municipality polygon hold addresses whose own
    ``kommunekode`` says they belong there (the coast of a 1:500,000 layer cuts off a few): such cells
    are kept whole, so every counted address has area in its zone. Municipalities missing from the
    layer leave their zones unclipped.
    """
    munis = _municipality_table(municipalities).reindex(zone_kode.astype(str))
    zone_muni = munis.geometry.to_numpy()
    names = munis["kommunenavn"].to_numpy(dtype=object)
    has_muni = ~pd.isna(zone_muni)
    result = merged.copy()
    if has_muni.any():
        shapely.prepare(zone_muni[has_muni])
        cell_muni = zone_muni[zone_of_cell]
        cell_has = has_muni[zone_of_cell]
        outside = np.zeros(len(boxes), dtype=bool)
        outside[cell_has] = ~shapely.intersects(cell_muni[cell_has], boxes[cell_has])
        inside = np.zeros(len(merged), dtype=bool)
        inside[has_muni] = shapely.contains_properly(zone_muni[has_muni], merged[has_muni])
        clip = has_muni & ~inside
        result[clip] = shapely.intersection(merged[clip], zone_muni[clip])
        zones_out = np.unique(zone_of_cell[outside])
        if len(zones_out):
            kept = _union_groups(
                boxes[outside], np.searchsorted(zones_out, zone_of_cell[outside]), len(zones_out)
            )
            result[zones_out] = shapely.union(result[zones_out], kept)
    return _multipolygons(result), names


def _municipality_table(municipalities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Municipalities in EPSG:25832 indexed by code, one row each (DAGI ships one per part)."""
    munis = _in_work_crs(municipalities)
    if not munis["kommunekode"].is_unique:
        munis = munis.dissolve("kommunekode", as_index=False, aggfunc="first")
    if "kommunenavn" not in munis.columns:
        munis = munis.assign(kommunenavn=None)
    return munis.set_index(munis["kommunekode"].astype(str))


def _multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Every zone as a MultiPolygon of its polygonal parts.

    Intersections can return collections with the lines and points where a zone touches the
    boundary: those are dropped. One geometry type per layer keeps every export format happy.
    """
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    out = np.full(len(geoms), shapely.from_wkt("MULTIPOLYGON EMPTY"), dtype=object)
    # shapely.multipolygons wants indices 0..k-1 without gaps: number the zones that have parts.
    owners, compact = np.unique(index[keep], return_inverse=True)
    if len(owners):
        out[owners] = shapely.multipolygons(parts[keep], indices=compact)
    return out


def _zone_stats(
    addresses: gpd.GeoDataFrame,
    assessment: pd.DataFrame | None,
    idx: np.ndarray,
    zone: np.ndarray,
    n_zones: int,
) -> dict[str, object]:
    """Counts and speed summaries per zone over the selected addresses."""
    count = np.bincount(zone, minlength=n_zones).astype("int64")
    generated = np.zeros(len(idx), dtype=bool)
    if "generated" in addresses.columns:
        generated |= addresses["generated"].fillna(False).to_numpy(dtype=bool)[idx]
    if assessment is not None and "generated" in assessment.columns:
        generated |= assessment["generated"].fillna(False).to_numpy(dtype=bool)[idx]
    zone_source = assessment if assessment is not None and "zone" in assessment else addresses
    if "zone" in zone_source.columns:
        zone_text = (
            zone_source["zone"].iloc[idx].astype("string").to_numpy(dtype=object, na_value="")
        )
        unknown = pd.array(np.bincount(zone, weights=zone_text == "", minlength=n_zones), "Int64")
    else:
        unknown = pd.array([pd.NA] * n_zones, dtype="Int64")
    out: dict[str, object] = {"addresses": count}
    if assessment is None:  # class counts and speeds are unknown, not zero
        blank = pd.array([pd.NA] * n_zones, dtype="Int64")
        out |= dict.fromkeys(("eligible", "eligible_blue", "eligible_if_zone"), blank)
        out |= {"unknown_zone": unknown, "mobile_below_100": blank}
        out |= dict.fromkeys(
            ("min_fixed_down", "median_fixed_down", "median_mobile_down"), np.full(n_zones, np.nan)
        )
    else:
        klass = assessment["class"].iloc[idx].astype("string").to_numpy(dtype=object, na_value="")
        down = pd.Series(assessment["best_down"].to_numpy("float64", na_value=np.nan)[idx])
        mobile = pd.Series(assessment["mobile_down"].to_numpy("float64", na_value=np.nan)[idx])
        by_down, by_mobile = down.groupby(zone), mobile.groupby(zone)

        def counted(flags: np.ndarray) -> pd.arrays.IntegerArray:
            return pd.array(np.bincount(zone, weights=flags, minlength=n_zones), dtype="Int64")

        out |= {
            "eligible": counted(klass == "eligible"),
            "eligible_blue": counted(klass == "eligible_blue"),
            "eligible_if_zone": counted(klass == "eligible_if_zone"),
            "unknown_zone": unknown,
            "min_fixed_down": by_down.min().reindex(range(n_zones)).to_numpy(),
            "median_fixed_down": by_down.median().reindex(range(n_zones)).to_numpy(),
            "median_mobile_down": by_mobile.median().reindex(range(n_zones)).to_numpy(),
            "mobile_below_100": counted(mobile.to_numpy() < 100),
        }
    out["generated"] = np.bincount(zone, weights=generated, minlength=n_zones) > 0
    return out


# --------------------------------------------------------------------------------------------------
# Grid statistics


# --------------------------------------------------------------------------------------------------
# Helpers


def _in_work_crs(frame: pd.DataFrame) -> pd.DataFrame:
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and frame.crs != WORK_CRS:
        return frame.to_crs(WORK_CRS)
    return frame


def address_xy(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:25832 coordinates of release-shaped addresses: the point geometry of a GeoDataFrame,
    else the ``east`` / ``north`` columns (the service keeps no geometry objects for 850,000
    addresses); NaN where the position is unknown."""
    if isinstance(frame, gpd.GeoDataFrame):
        geoms = frame.geometry.to_numpy()
        return shapely.get_x(geoms), shapely.get_y(geoms)
    return (
        frame["east"].to_numpy(np.float64, na_value=np.nan),
        frame["north"].to_numpy(np.float64, na_value=np.nan),
    )


def _checked_mask(mask: np.ndarray, n: int) -> np.ndarray:
    values = pd.array(mask, dtype="boolean").fillna(False).to_numpy(dtype=bool)
    if len(values) != n:
        raise InvalidRequestError(f"selection mask has {len(values)} values for {n} addresses")
    return values.copy()


def _check_aligned(addresses: pd.DataFrame, assessment: pd.DataFrame | None) -> None:
    """The assessment must be row-for-row the addresses' (same length, same ids if it has them)."""
    if assessment is None:
        return
    if len(assessment) != len(addresses):
        raise InvalidRequestError(
            f"assessment has {len(assessment)} rows for {len(addresses)} addresses; "
            "expected one row per address in the same order"
        )
    if "address_id" in assessment.columns and "id" in addresses.columns:
        # Compared in Arrow, a missing id as an empty one: 850,000 ids as Python strings were 150 MB.
        same, ids = (
            pc.fill_null(pa.array(frame[column].astype("string")), "")
            for frame, column in ((assessment, "address_id"), (addresses, "id"))
        )
        if pc.all(pc.equal(same, ids)).as_py() is False:  # None: no rows
            raise InvalidRequestError(
                "assessment rows are not in the addresses' order (address_id differs from id)"
            )


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    data = {c: pd.Series([], dtype="object") for c in columns if c != "geometry"}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WORK_CRS), crs=WORK_CRS)


def _slug(label: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", str(label).casefold().replace("<", " lt ")).strip("-")
    return slug or "zone"


__all__ = [
    "ELIGIBLE_CLASSES",
    "ZONE_COLUMNS",
    "address_xy",
    "eligible_mask",
    "parse_speed_threshold",
    "threshold_label",
    "threshold_mask",
    "underserved_zones",
]
