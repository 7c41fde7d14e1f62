"""Planning zones (byzone, landzone, sommerhusområde) for addresses.

The pool's zone rule needs each address's planning zone. It comes, in order of trust, from

1. an optional zone layer: polygons from the Danish planning register (Plandata's zone map) or any
   GeoPackage / GeoJSON / Shapefile with a field naming the zone, looked up with one STRtree bulk
   query for all addresses;
2. the address register's own ``zone`` column;
3. nowhere: the zone is then unknown (``<NA>``) and is never assumed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.addresses import ZONES as REGISTER_SPELLINGS
from coverage.addresstext import fold
from coverage.boundaries import read_dagi
from coverage.errors import SourceError
from coverage.types import WORK_CRS

#: The three planning zones, spelled as the register spells them, in the planning register's code
#: order (1 = Byzone, 2 = Landzone, 3 = Sommerhusområde).
ZONE_NAMES = ("Byzone", "Landzone", "Sommerhusområde")

#: Where an address's zone came from.
ZONE_SOURCES = ("layer", "register", "unknown")

# Folded spellings (see addresstext.fold, spaces removed) and the planning register's codes. The
# register's own spellings are included so one function serves every input.
_SPELLINGS = {
    **{fold(k).replace(" ", ""): v for k, v in REGISTER_SPELLINGS.items()},
    "1": "Byzone",
    "2": "Landzone",
    "3": "Sommerhusområde",
    "by": "Byzone",
    "land": "Landzone",
    "sommerhus": "Sommerhusområde",
    "sommerhusomraader": "Sommerhusområde",
}

#: Field names tried, in order, when a zone layer is read without naming its zone field.
ZONE_FIELDS = ("zone", "zonestatus", "zonenavn", "zone_navn", "zonekode", "zone_kode", "zonetype")

_EXPECTED = "Byzone, Landzone or Sommerhusområde (or the planning register's codes 1, 2, 3)"


def canonical_zone(value: object) -> str | None:
    """The register's spelling of one zone value, or None when it is not a zone.

    Accepts any case, ``aa`` for ``å``, ``Sommerhuszone``, and the planning register's codes
    1 / 2 / 3 (also as ``1.0``, as Shapefiles store integers as reals).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return _SPELLINGS.get(fold(text).replace(" ", ""))


def zone_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Vectorised :func:`canonical_zone` as int8 codes into :data:`ZONE_NAMES`, -1 for unknown.

    Only the distinct values are folded, so a column of a million addresses costs a handful of
    calls.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = [ZONE_NAMES.index(z) if (z := canonical_zone(u)) else -1 for u in uniques]
    return np.array([*table, -1], dtype=np.int8)[codes]


def zone_labels(codes: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """Zone names (string dtype, <NA> for -1) from :func:`zone_codes` codes."""
    names = np.array([*ZONE_NAMES, None], dtype=object)[codes]
    return pd.Series(names, index=index, dtype="string")


def canonical_zones(values: pd.Series) -> pd.Series:
    """Vectorised :func:`canonical_zone`: values that are not zones become ``<NA>``."""
    return zone_labels(zone_codes(values), values.index)


def read_zone_layer(path: str | Path, field: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate a zone layer: a ``zone`` column in the register's spelling, EPSG:25832.

    ``field`` names the attribute holding the zone; without it the first of :data:`ZONE_FIELDS`
    present (any case) is used. Refuses, with a :class:`~coverage.errors.SourceError` naming the file,
    a layer that cannot be read, has no CRS or a CRS that does not fit Denmark, lacks the field, holds
    anything but polygons, or has a feature whose value is not a zone.
    """
    path = Path(path)
    frame = read_dagi(path, (), "zone layer")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if field is None:
        lower = {c.lower(): c for c in columns}
        found = next((lower[f] for f in ZONE_FIELDS if f in lower), None)
        if found is None:
            raise SourceError(
                path,
                f"zone layer has no zone field: expected one of {', '.join(ZONE_FIELDS)} (or name "
                f"it with --zone-field); found {', '.join(columns) or 'none'}",
            )
        field = found
    elif field not in columns:
        raise SourceError(
            path,
            f"zone layer has no field {field!r}; found {', '.join(columns) or 'none'}",
        )

    geoms = np.asarray(frame.geometry.array)
    kinds = shapely.get_type_id(geoms)
    # make_valid (in read_dagi) may turn a broken polygon into a collection: still an area.
    polygonal = np.isin(kinds, (3, 6, 7)) & (shapely.area(geoms) > 0)
    if not polygonal.all():
        first = int(np.flatnonzero(~polygonal)[0])
        raise SourceError(
            path,
            f"zone layer must hold polygons; feature {first + 1} is a "
            f"{geoms[first].geom_type} without area",
        )

    zones = canonical_zones(frame[field])
    bad = zones.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SourceError(
            path,
            f"zone layer field {field!r}: {int(bad.sum())} feature(s) hold no known zone, first "
            f"feature {first + 1} with {str(frame[field].iloc[first])!r}; expected {_EXPECTED}",
        )
    return gpd.GeoDataFrame({"zone": zones.to_numpy()}, geometry=geoms, crs=frame.crs)


def zones_for_points(
    points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray, layer: gpd.GeoDataFrame
) -> pd.Series:
    """The zone of each point from a zone layer, ``<NA>`` where it is not known.

    One STRtree bulk query finds every (point, polygon) pair. A point covered by no polygon, or by
    polygons of different zones (overlaps, a point on a shared edge), gets ``<NA>``: an ambiguous
    zone is unknown, never a guess. Points are reprojected to the layer's CRS when both declare one.
    """
    index = points.index if isinstance(points, gpd.GeoSeries | gpd.GeoDataFrame) else None
    return zone_labels(_layer_codes(points, layer), index)


def _layer_codes(
    points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray, layer: gpd.GeoDataFrame
) -> np.ndarray:
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if isinstance(points, gpd.GeoSeries):
        if points.crs is None:
            points = points.set_crs(WORK_CRS)
        if layer.crs is not None and points.crs != layer.crs:
            points = points.to_crs(layer.crs)
        geoms = np.asarray(points.array)
    else:
        geoms = np.asarray(points)
    n = len(geoms)
    polygon_codes = zone_codes(layer["zone"]).astype(np.int16)
    tree = shapely.STRtree(np.asarray(layer.geometry.array))
    present = ~shapely.is_missing(geoms)
    hit_point, hit_poly = tree.query(geoms[present], predicate="intersects")
    hit_point = np.flatnonzero(present)[hit_point]
    low = np.full(n, np.iinfo(np.int16).max, dtype=np.int16)
    high = np.full(n, -1, dtype=np.int16)
    np.minimum.at(low, hit_point, polygon_codes[hit_poly])
    np.maximum.at(high, hit_point, polygon_codes[hit_poly])
    return np.where((high >= 0) & (low == high), high, -1).astype(np.int8)


def resolve_zone_codes(
    addresses: pd.DataFrame, layer: gpd.GeoDataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`resolve_zones`, as int8 codes into :data:`ZONE_NAMES` and :data:`ZONE_SOURCES`."""
    n = len(addresses)
    register = (
        zone_codes(addresses["zone"]) if "zone" in addresses.columns else np.full(n, -1, np.int8)
    )
    from_layer = np.full(n, -1, dtype=np.int8)
    if layer is not None:
        if not isinstance(addresses, gpd.GeoDataFrame):
            raise TypeError("a zone layer needs the addresses as a GeoDataFrame with points")
        from_layer = _layer_codes(addresses.geometry, layer)
    use_layer = from_layer >= 0
    use_register = ~use_layer & (register >= 0)
    zone = np.where(use_layer, from_layer, register).astype(np.int8)
    source = np.select([use_layer, use_register], [0, 1], 2).astype(np.int8)  # ZONE_SOURCES
    return zone, source


def resolve_zones(
    addresses: pd.DataFrame, layer: gpd.GeoDataFrame | None = None
) -> tuple[pd.Series, pd.Series]:
    """Each address's zone and where it came from (``layer`` / ``register`` / ``unknown``).

    The layer wins where it covers an address unambiguously; elsewhere the register's ``zone``
    column (canonicalised) is used; what is left is ``<NA>`` with source ``unknown``.
    """
    zone, source = resolve_zone_codes(addresses, layer)
    sources = pd.Series(np.array(ZONE_SOURCES, dtype=object)[source], dtype="string")
    return zone_labels(zone, addresses.index), sources.set_axis(addresses.index)


__all__ = [
    "ZONE_FIELDS",
    "ZONE_NAMES",
    "ZONE_SOURCES",
    "canonical_zone",
    "canonical_zones",
    "read_zone_layer",
    "resolve_zone_codes",
    "resolve_zones",
    "zone_codes",
    "zone_labels",
    "zones_for_points",
]
