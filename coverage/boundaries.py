"""Administrative boundaries from DAGI: municipalities, regions and postcode areas.

DAGI ships one feature per polygon part with a dummy Z of -999 on every vertex. We drop Z, repair
invalid rings, dissolve parts per code and keep everything in EPSG:25832, where areas are true.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from coverage.errors import SourceError
from coverage.types import DENMARK_BOUNDS_25832, WORK_CRS

#: Share of a municipality's area that must lie in the region polygon for it to belong there. The
#: 1:500.000 outlines of neighbours overlap a little along shared borders; 0.5 separates cleanly.
_REGION_SHARE = 0.5


@dataclass
class RegionBoundaries:
    """The region's municipalities, its outline, and the postcode areas that touch it."""

    region: str
    region_name: str
    municipalities: gpd.GeoDataFrame
    outline: shapely.Geometry
    postcodes: gpd.GeoDataFrame


def read_dagi(path: str | Path, fields: tuple[str, ...], what: str) -> gpd.GeoDataFrame:
    """Read a DAGI layer, check its fields and CRS, return valid 2D geometries in EPSG:25832."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, f"{what} not found")
    if path.stat().st_size == 0:
        raise SourceError(path, f"{what} is empty")
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several GDAL-derived types for unreadable files
        raise SourceError(path, f"{what} cannot be read as a vector layer: {exc}") from None
    if len(frame) == 0:
        raise SourceError(path, f"{what} has no features")
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise SourceError(
            path,
            f"{what} lacks field(s) {', '.join(missing)}; found "
            f"{', '.join(c for c in frame.columns if c != 'geometry') or 'none'}",
        )
    if frame.crs is None:
        raise SourceError(path, f"{what} has no CRS; expected CRS84 / EPSG:4326 or EPSG:25832")
    geoms = frame.geometry.array
    if bool(shapely.is_missing(np.asarray(geoms)).any()):
        bad = int(np.flatnonzero(shapely.is_missing(np.asarray(geoms)))[0]) + 1
        raise SourceError(path, f"{what}: feature {bad} has no geometry")
    frame = frame.set_geometry(shapely.force_2d(np.asarray(geoms)), crs=frame.crs)
    _check_plausible_crs(path, frame, what)
    frame = frame.to_crs(WORK_CRS)
    frame["geometry"] = shapely.make_valid(np.asarray(frame.geometry.array))
    return frame


def _check_plausible_crs(path: Path, frame: gpd.GeoDataFrame, what: str) -> None:
    """Refuse a layer whose coordinates do not fit its declared CRS over Denmark."""
    xmin, ymin, xmax, ymax = frame.total_bounds
    crs = CRS.from_user_input(frame.crs)
    if crs.is_geographic:
        ok = 3.0 <= xmin and xmax <= 16.5 and 54.0 <= ymin and ymax <= 58.5
        expected = "lon/lat degrees over Denmark (lon 8-15.2, lat 54.5-57.8)"
    else:
        ex0, ny0, ex1, ny1 = (
            gpd.GeoSeries([shapely.box(xmin, ymin, xmax, ymax)], crs=crs)
            .to_crs(WORK_CRS)
            .total_bounds
        )
        b = DENMARK_BOUNDS_25832
        ok = b[0] <= ex0 and ex1 <= b[2] and b[1] <= ny0 and ny1 <= b[3]
        expected = "coordinates over Denmark"
    if not ok:
        raise SourceError(
            path,
            f"{what}: coordinates {xmin:.6g},{ymin:.6g} .. {xmax:.6g},{ymax:.6g} do not fit the "
            f"declared CRS {crs.to_string()}; expected {expected} (wrong CRS?)",
        )


def dissolve_parts(frame: gpd.GeoDataFrame, code: str, name: str) -> gpd.GeoDataFrame:
    """One row per code with the union of its parts (parts are disjoint islands or slivers)."""
    out = frame[[code, name, "geometry"]].dissolve(by=code, aggfunc="first", as_index=False)
    out["geometry"] = shapely.make_valid(np.asarray(out.geometry.array))
    return out


def load_region(
    municipalities_path: str | Path,
    regions_path: str | Path | None,
    postcodes_path: str | Path | None,
    region: str,
) -> RegionBoundaries:
    """The region's municipalities (dissolved), its outline and the postcode areas touching it."""
    kommuner = read_dagi(municipalities_path, ("KOMKODE", "KOMNAVN"), "municipality layer")
    kommuner["KOMKODE"] = kommuner["KOMKODE"].astype(str).str.strip().str.zfill(4)
    bad_codes = ~kommuner["KOMKODE"].str.fullmatch(r"\d{4}")
    if bad_codes.any():
        first = kommuner.loc[bad_codes, "KOMKODE"].iloc[0]
        raise SourceError(
            municipalities_path, f"KOMKODE {first!r} is not a 4-digit municipality code"
        )
    munis = dissolve_parts(kommuner, "KOMKODE", "KOMNAVN").rename(
        columns={"KOMKODE": "kommunekode", "KOMNAVN": "kommunenavn"}
    )

    if region == "all":
        outline = shapely.union_all(np.asarray(munis.geometry.array))
        region_name = "Danmark"
    else:
        if regions_path is None:
            raise SourceError(
                municipalities_path, f"region {region} asked for, but no region layer is given"
            )
        regioner = read_dagi(regions_path, ("REGIONKODE", "REGIONNAVN"), "region layer")
        regioner["REGIONKODE"] = regioner["REGIONKODE"].astype(str).str.strip().str.zfill(4)
        chosen = regioner[regioner["REGIONKODE"] == region]
        if chosen.empty:
            known = ", ".join(sorted(regioner["REGIONKODE"].unique()))
            raise SourceError(regions_path, f"region {region} is not in the layer; it has {known}")
        outline = shapely.union_all(np.asarray(chosen.geometry.array))
        region_name = str(chosen["REGIONNAVN"].iloc[0])
        inside = shapely.area(shapely.intersection(np.asarray(munis.geometry.array), outline))
        share = inside / shapely.area(np.asarray(munis.geometry.array))
        munis = munis[share >= _REGION_SHARE].reset_index(drop=True)
        if munis.empty:
            raise SourceError(
                municipalities_path, f"no municipality lies in region {region} ({region_name})"
            )

    munis = munis.sort_values("kommunekode").reset_index(drop=True)
    munis["area_km2"] = shapely.area(np.asarray(munis.geometry.array)) / 1e6
    munis = gpd.GeoDataFrame(munis, geometry="geometry", crs=WORK_CRS)

    postcodes = _postcodes(postcodes_path, outline)
    return RegionBoundaries(region, region_name, munis, outline, postcodes)


def _postcodes(path: str | Path | None, outline: shapely.Geometry) -> gpd.GeoDataFrame:
    """Postcode areas that touch the region, dissolved per postcode."""
    empty = gpd.GeoDataFrame(
        {"postnr": [], "postbynavn": []}, geometry=gpd.GeoSeries([], crs=WORK_CRS)
    )
    if path is None:
        return empty
    frame = read_dagi(path, ("POSTNR_TXT", "POSTBYNAVN"), "postcode layer")
    frame = dissolve_parts(frame, "POSTNR_TXT", "POSTBYNAVN").rename(
        columns={"POSTNR_TXT": "postnr", "POSTBYNAVN": "postbynavn"}
    )
    shapely.prepare(outline)
    touching = shapely.intersects(outline, np.asarray(frame.geometry.array))
    frame = frame[touching].sort_values("postnr").reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=WORK_CRS)
