"""Mobile gap zones: where even the best operator falls below a threshold, as polygons.

Two kinds of evidence, each per operator and for "every operator" (the best of all of them):

* ``model``: pixels whose best predicted RSRP over the operator's technologies is below the
  threshold (default outdoor −110 dBm), polygonised from the rasters with
  ``rasterio.features.shapes`` (adjacent pixels merge into one polygon);
* ``measured``: published aggregate cells whose best median download is below a speed (default
  30 Mbit/s), squares merged with ``coverage_union_all``. Cells without published measurements are
  unknown, not gaps.

Zones are clipped to the municipalities: one row per kind × operator × municipality, with its area
and, when addresses are given, how many addresses lie in it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes
from shapely.geometry import shape

from coverage.errors import InvalidRequestError
from coverage.grid import cell_boxes
from coverage.mobile.aggregate import CellAggregates
from coverage.mobile.model import RasterLayer
from coverage.mobile.raster import RasterGrid, read_band
from coverage.types import WORK_CRS

EVERY_OPERATOR = "every operator"

GAP_COLUMNS = [
    "basis",
    "operator",
    "criterion",
    "kommunekode",
    "kommunenavn",
    "area_km2",
    "addresses",
    "generated",
]


def gap_zones(
    rasters: Sequence[RasterLayer],
    municipalities: gpd.GeoDataFrame,
    threshold: float = -110.0,
    *,
    environment: str = "outdoor",
    aggregates: CellAggregates | None = None,
    threshold_down: float = 30.0,
    addresses: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Gap zones per operator and for every operator, clipped to municipalities (EPSG:25832).

    ``threshold`` is the RSRP (dBm) below which a pixel of the ``environment`` layers is a gap;
    ``aggregates`` adds measured zones (best median download below ``threshold_down`` Mbit/s).
    """
    layers = [la for la in rasters if la.environment == environment]
    if not layers and aggregates is None:
        raise InvalidRequestError(
            f"no {environment} model layer and no measurements: nothing to find gaps in"
        )
    zones: list[tuple[str, str, str, shapely.Geometry, bool]] = []
    if layers:
        zones += _model_zones(layers, threshold, environment)
    if aggregates is not None and not aggregates.cells.empty:
        zones += _measured_zones(aggregates, threshold_down)
    return _clip(zones, municipalities, addresses)


def _model_zones(
    layers: Sequence[RasterLayer], threshold: float, environment: str
) -> list[tuple[str, str, str, shapely.Geometry, bool]]:
    grid: RasterGrid | None = None
    per_operator: dict[str, np.ndarray] = {}
    generated: dict[str, bool] = {}
    for layer in layers:
        band, this_grid = read_band(layer.path)
        if grid is None:
            grid = this_grid
        elif this_grid != grid:
            raise InvalidRequestError(
                f"layer {layer.name} is on another grid than {layers[0].name}: model them together"
            )
        previous = per_operator.get(layer.operator)
        # fmax: a pixel that one layer leaves empty takes the other's value.
        per_operator[layer.operator] = band if previous is None else np.fmax(previous, band)
        generated[layer.operator] = generated.get(layer.operator, False) or layer.generated
    assert grid is not None
    every = functools.reduce(np.fmax, per_operator.values())
    criterion = f"{environment} RSRP below {threshold:g} dBm (model)"
    out = []
    candidates = [*per_operator.items(), (EVERY_OPERATOR, every)]
    for operator, best in candidates:
        with np.errstate(invalid="ignore"):
            mask = best < threshold
        geometry = _polygonise(mask, grid)
        gen = generated.get(operator, any(generated.values()))
        out.append(("model", operator, criterion, geometry, gen))
    return out


def _polygonise(mask: np.ndarray, grid: RasterGrid) -> shapely.Geometry:
    """The True pixels as one (multi)polygon; 4-connected pixels merge into one part."""
    if not mask.any():
        return shapely.MultiPolygon()
    parts = [
        shape(geom)
        for geom, _ in shapes(
            mask.astype("uint8"), mask=mask, transform=grid.transform, connectivity=4
        )
    ]
    return shapely.multipolygons(np.asarray(parts, dtype=object))


def _measured_zones(
    aggregates: CellAggregates, threshold_down: float
) -> list[tuple[str, str, str, shapely.Geometry, bool]]:
    cells = aggregates.cells
    criterion = (
        f"best median download below {threshold_down:g} Mbit/s "
        f"({aggregates.size} m cells, measured)"
    )
    out = []
    per_op = cells.groupby(["operator", "row", "col"], as_index=False, observed=True).agg(
        down=("down_median", "max"), generated=("generated", "any")
    )
    every = per_op.groupby(["row", "col"], as_index=False).agg(
        down=("down", "max"), generated=("generated", "any")
    )
    groups = [(str(op), g) for op, g in per_op.groupby("operator", observed=True)]
    for operator, frame in [*groups, (EVERY_OPERATOR, every)]:
        low = frame[frame["down"] < threshold_down]
        if low.empty:
            geometry = shapely.MultiPolygon()
        else:
            boxes = cell_boxes(low["row"].to_numpy(), low["col"].to_numpy(), aggregates.size)
            geometry = shapely.coverage_union_all(boxes)
        out.append(("measured", operator, criterion, geometry, bool(low["generated"].any())))
    return out


def _clip(
    zones: list[tuple[str, str, str, shapely.Geometry, bool]],
    municipalities: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    munis = municipalities.to_crs(WORK_CRS)
    muni_geoms = np.asarray(munis.geometry.array)
    records = []
    geoms = []
    for basis, operator, criterion, geometry, generated in zones:
        if shapely.is_empty(geometry):
            continue
        parts = shapely.get_parts(geometry)
        tree = shapely.STRtree(parts)
        part_idx, muni_idx = tree.query(muni_geoms, predicate="intersects")[::-1]
        if part_idx.size == 0:
            continue
        pieces = shapely.intersection(parts[part_idx], muni_geoms[muni_idx])
        flat, which = shapely.get_parts(pieces, return_index=True)
        polygonal = shapely.get_type_id(flat) == 3
        flat, owner = flat[polygonal], muni_idx[which[polygonal]]
        if flat.size == 0:
            continue
        order = np.argsort(owner, kind="stable")
        flat, owner = flat[order], owner[order]
        owners = np.unique(owner)
        # Pieces of one municipality are disjoint (they come from disjoint pixels or cells).
        merged = shapely.multipolygons(flat, indices=np.searchsorted(owners, owner))
        for k, m in enumerate(owners):
            records.append(
                {
                    "basis": basis,
                    "operator": operator,
                    "criterion": criterion,
                    "kommunekode": munis["kommunekode"].iat[m],
                    "kommunenavn": munis["kommunenavn"].iat[m],
                    "generated": generated,
                }
            )
            geoms.append(merged[k])
    described = [c for c in GAP_COLUMNS if c not in ("area_km2", "addresses")]
    frame = pd.DataFrame.from_records(records, columns=described)
    geometry = np.asarray(geoms, dtype=object)
    frame["area_km2"] = shapely.area(geometry) / 1e6 if geoms else np.empty(0)
    frame["addresses"] = _count_addresses(geometry, addresses)
    return gpd.GeoDataFrame(frame[GAP_COLUMNS], geometry=list(geometry), crs=WORK_CRS)


def _count_addresses(zones: np.ndarray, addresses: gpd.GeoDataFrame | None) -> np.ndarray:
    """Addresses inside each zone (-1 when no addresses were given)."""
    if addresses is None:
        return np.full(len(zones), -1, dtype="int64")
    if len(zones) == 0:
        return np.zeros(0, dtype="int64")
    points = np.asarray(addresses.to_crs(WORK_CRS).geometry.array)
    tree = shapely.STRtree(zones)
    _, zone_idx = tree.query(points, predicate="within")
    return np.bincount(zone_idx, minlength=len(zones)).astype("int64")


__all__ = ["EVERY_OPERATOR", "GAP_COLUMNS", "gap_zones"]
