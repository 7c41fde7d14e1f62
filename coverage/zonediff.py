"""How underserved zones changed between two releases: new, vanished, grown, shrunk, merged, split.

Zones are paired by their stable ``zone_id`` first, then one-to-one by largest mutual overlap; what is
left is merged or split when it overlaps the other side, else new or vanished.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.types import WORK_CRS

#: Kinds of zone change.
ZONE_CHANGE_KINDS = (
    "new", "vanished", "grown", "shrunk", "reshaped", "merged", "split", "unchanged",
)  # fmt: skip

#: Columns of the zone change layer, in order.
ZONE_CHANGE_COLUMNS = [
    "zone_id", "change", "zone_id_from", "zone_id_to", "kommunekode", "addresses_from",
    "addresses_to", "area_km2_from", "area_km2_to", "gained_km2", "lost_km2", "generated",
    "geometry",
]  # fmt: skip

#: Two zone outlines differing by less than this (m²) are the same outline (float noise).
_SAME_AREA_M2 = 1.0


def zone_changes(zones_from: gpd.GeoDataFrame, zones_to: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Pair two zone layers (:func:`coverage.zones.underserved_zones`) and say how each changed.

    Zones with the same ``zone_id`` are one zone. The rest are paired one-to-one where each is the
    other's largest overlap (a zone whose anchor cell moved keeps its identity). A paired zone has
    ``grown`` or ``shrunk`` by area, or where the area is the same (within 1 m²) by its number of
    addresses; with the same area and addresses it is ``unchanged`` (outlines differ by under 1 m²)
    or ``reshaped``. An unpaired older zone that overlaps a newer one was ``merged`` into
    it, otherwise it ``vanished``; an unpaired newer zone overlapping an older one was ``split`` from
    it, otherwise it is ``new``. Geometry is the newer outline (the older one for merged and vanished).
    """
    za = _in_work_crs(zones_from).reset_index(drop=True)
    zb = _in_work_crs(zones_to).reset_index(drop=True)
    ga, gb = za.geometry.to_numpy(), zb.geometry.to_numpy()
    ids_a = za["zone_id"].astype(str).to_numpy()
    ids_b = zb["zone_id"].astype(str).to_numpy()
    _, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    free_a = np.setdiff1d(np.arange(len(za)), ia)
    free_b = np.setdiff1d(np.arange(len(zb)), ib)
    oa, ob, overlap = _overlaps(ga[free_a], gb[free_b])
    oa, ob = free_a[oa], free_b[ob]
    if len(oa):  # mutual largest overlaps: each is the other's best partner
        best_for_a = pd.Series(overlap).groupby(oa).idxmax().to_numpy()
        best_for_b = pd.Series(overlap).groupby(ob).idxmax().to_numpy()
        mutual = np.intersect1d(best_for_a, best_for_b)
        ia, ib = np.concatenate([ia, oa[mutual]]), np.concatenate([ib, ob[mutual]])
    rest_a = np.setdiff1d(np.arange(len(za)), ia)
    rest_b = np.setdiff1d(np.arange(len(zb)), ib)
    if len(ia) + len(rest_a) + len(rest_b) == 0:
        return empty_zone_changes()
    # An unpaired zone overlapping any zone of the other side was merged into it / split from it.
    merged = rest_a[np.unique(_overlaps(ga[rest_a], gb)[0])]
    split = rest_b[np.unique(_overlaps(gb[rest_b], ga)[0])]

    # One row per pairing; -1 marks the side a zone does not have.
    none_a, none_b = np.full(len(rest_b), -1), np.full(len(rest_a), -1)
    row_a = np.concatenate([ia, rest_a, none_a]).astype("int64")
    row_b = np.concatenate([ib, none_b, rest_b]).astype("int64")
    has_a, has_b = row_a >= 0, row_b >= 0
    geom_a, geom_b = take_or(ga, row_a), take_or(gb, row_b)
    area_a = np.where(has_a, shapely.area(geom_a), np.nan)
    area_b = np.where(has_b, shapely.area(geom_b), np.nan)
    both = has_a & has_b
    gained = np.where(has_b, np.nan_to_num(area_b), 0.0)
    lost = np.where(has_a, np.nan_to_num(area_a), 0.0)
    gained[both] = shapely.area(shapely.difference(geom_b[both], geom_a[both]))
    lost[both] = shapely.area(shapely.difference(geom_a[both], geom_b[both]))

    def column(name: str, dtype: str) -> tuple[pd.Series, pd.Series]:
        newer = pd.Series(take_or(zb[name].to_numpy(dtype=object), row_b), dtype=dtype)
        older = pd.Series(take_or(za[name].to_numpy(dtype=object), row_a), dtype=dtype)
        return newer, older

    n_b, n_a = column("addresses", "Int64")
    more = (n_b.fillna(0) - n_a.fillna(0)).to_numpy("int64")
    same_area = np.abs(np.nan_to_num(area_b) - np.nan_to_num(area_a)) < _SAME_AREA_M2
    change = np.select(
        [
            both & ~same_area & (area_b > area_a),
            both & ~same_area & (area_b < area_a),
            both & (more > 0),  # same area: the count of addresses decides
            both & (more < 0),
            both & (gained + lost < _SAME_AREA_M2),
            both,
            has_a & np.isin(row_a, merged),
            has_a,
            np.isin(row_b, split),
        ],
        ["grown", "shrunk", "grown", "shrunk", "unchanged", "reshaped", "merged", "vanished", "split"],
        "new",
    )  # fmt: skip

    id_b, id_a = column("zone_id", "string")
    kode_b, kode_a = column("kommunekode", "string")
    gen_b, gen_a = column("generated", "boolean")
    frame = pd.DataFrame(
        {
            "zone_id": id_b.fillna(id_a),
            "change": pd.array(change, dtype="string"),
            "zone_id_from": id_a,
            "zone_id_to": id_b,
            "kommunekode": kode_b.fillna(kode_a),
            "addresses_from": n_a,
            "addresses_to": n_b,
            "area_km2_from": area_a / 1e6,
            "area_km2_to": area_b / 1e6,
            "gained_km2": gained / 1e6,
            "lost_km2": lost / 1e6,
            "generated": (gen_a.fillna(False) | gen_b.fillna(False)).to_numpy(bool),
        }
    )
    geometry = np.where(has_b, geom_b, geom_a)
    out = gpd.GeoDataFrame(frame, geometry=list(geometry), crs=WORK_CRS)
    out = out.sort_values(["kommunekode", "zone_id"], kind="stable").reset_index(drop=True)
    out.attrs["geometry_type"] = "MultiPolygon"
    return out[ZONE_CHANGE_COLUMNS]


def _overlaps(ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j) of polygons that overlap with area, and the area of each overlap."""
    if len(ga) == 0 or len(gb) == 0:
        empty = np.empty(0, dtype="int64")
        return empty, empty, np.empty(0)
    # query returns (index into the queried geometries, index into the tree).
    i, j = shapely.STRtree(gb).query(ga, predicate="intersects")
    area = shapely.area(shapely.intersection(ga[i], gb[j]))
    keep = area > 0  # touching along an edge is not overlapping
    return i[keep], j[keep], area[keep]


# --------------------------------------------------------------------------------------------------
# Helpers


def _in_work_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is not None and frame.crs != WORK_CRS:
        return frame.to_crs(WORK_CRS)
    return frame


def empty_layer(columns: list[str], geometry_type: str) -> gpd.GeoDataFrame:
    """An empty EPSG:25832 layer with these columns; ``attrs`` records the geometry type to export."""
    data = {c: pd.Series([], dtype="object") for c in columns if c != "geometry"}
    frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WORK_CRS), crs=WORK_CRS)
    frame.attrs["geometry_type"] = geometry_type  # what an export writes for an empty layer
    return frame


def empty_zone_changes() -> gpd.GeoDataFrame:
    """The zone change layer with no rows."""
    return empty_layer(ZONE_CHANGE_COLUMNS, "MultiPolygon")


def take_or(values: np.ndarray, rows: np.ndarray, missing: Any = None) -> np.ndarray:
    """``values[rows]`` with ``missing`` where ``rows`` is -1."""
    if len(values) == 0:
        return np.full(len(rows), missing, dtype=values.dtype if missing is not None else object)
    taken = values[np.where(rows >= 0, rows, 0)]
    return np.where(rows >= 0, taken, missing)


__all__ = [
    "ZONE_CHANGE_COLUMNS",
    "ZONE_CHANGE_KINDS",
    "empty_layer",
    "empty_zone_changes",
    "take_or",
    "zone_changes",
]
