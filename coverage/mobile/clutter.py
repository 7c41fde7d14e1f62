"""Land-use clutter from OpenStreetMap: what stands around a receiver, per raster pixel.

Land-use and natural polygons give a class (open, water, forest, suburban); buildings give the
built-up share of each pixel, which upgrades a pixel to suburban (≥ 5 % built) or urban (≥ 25 %).
Urban pixels use TR 38.901's urban-macro path loss; forest and suburban pixels add a clutter loss.
Where no clutter data exists (everywhere but Samsø in the bundle), pixels are ``unknown`` and
treated like open land.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from rasterio.features import rasterize

from coverage.errors import SourceError
from coverage.mobile.raster import RasterGrid
from coverage.types import WORK_CRS

UNKNOWN, OPEN, WATER, FOREST, SUBURBAN, URBAN = range(6)
CLUTTER_NAMES = ("unknown", "open", "water", "forest", "suburban", "urban")

#: Extra loss (dB) per clutter class and technology, indexed by class code. Urban has none because
#: it switches the path-loss model to urban macro instead.
CLUTTER_LOSS_DB: dict[str, tuple[float, ...]] = {
    "4G": (0.0, 0.0, 0.0, 6.0, 3.0, 0.0),
    "5G": (0.0, 0.0, 0.0, 10.0, 5.0, 0.0),
}

#: Built-up share of a pixel from which it counts as suburban / urban.
SUBURBAN_SHARE = 0.05
URBAN_SHARE = 0.25

#: OpenStreetMap tag values → clutter class. Later classes win where polygons overlap.
_LANDUSE = {
    "forest": FOREST,
    "residential": SUBURBAN,
    "farmyard": SUBURBAN,
    "industrial": SUBURBAN,
    "commercial": SUBURBAN,
    "retail": SUBURBAN,
    "construction": SUBURBAN,
    "garages": SUBURBAN,
    "reservoir": WATER,
    "basin": WATER,
}
_NATURAL = {"wood": FOREST, "water": WATER}
_BURN_ORDER = (OPEN, WATER, FOREST, SUBURBAN)


@dataclass
class ClutterSource:
    """Clutter polygons in EPSG:25832: land use with a ``clutter`` class code, and buildings."""

    landuse: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    source: str = ""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Extent of the clutter data."""
        frames = [f for f in (self.landuse, self.buildings) if len(f)]
        if not frames:
            return (0.0, 0.0, 0.0, 0.0)
        b = np.array([f.total_bounds for f in frames])
        return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def osm_target(path: str | Path) -> str:
    """What GDAL's OSM driver should open: the file, or the ``.osm``/``.pbf`` inside a zip."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "OpenStreetMap extract not found")
    if path.suffix.lower() != ".zip":
        return str(path)
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            inner = [n for n in archive.namelist() if n.endswith((".osm", ".pbf"))]
    except zipfile.BadZipFile:
        raise SourceError(path, "OpenStreetMap extract is not a valid zip file") from None
    if not inner:
        raise SourceError(path, "zip holds no .osm or .pbf file")
    return f"/vsizip/{path}/{inner[0]}"


def read_osm_clutter(path: str | Path) -> ClutterSource:
    """Land-use polygons and buildings from an OpenStreetMap extract (``.osm``, ``.pbf``, zipped).

    Read with GDAL's OSM driver through pyogrio; a ``.zip`` holding one ``.osm`` is read in place.
    """
    target = osm_target(path)
    try:
        polygons = pyogrio.read_dataframe(
            target, layer="multipolygons", columns=["building", "landuse", "natural"]
        )
    except Exception as exc:  # pyogrio raises several GDAL-derived types for unreadable files
        raise SourceError(path, f"cannot be read as OpenStreetMap data: {exc}") from None
    polygons = polygons.to_crs(WORK_CRS)
    geoms = shapely.make_valid(np.asarray(polygons.geometry.array))
    polygons = polygons.set_geometry(geoms)
    is_building = polygons["building"].notna().to_numpy()
    code = (
        polygons["landuse"].map(_LANDUSE).fillna(polygons["natural"].map(_NATURAL)).fillna(-1)
    ).to_numpy(dtype="int64")
    tagged = polygons["landuse"].notna() | polygons["natural"].notna()
    code = np.where((code < 0) & tagged.to_numpy(), OPEN, code)
    landuse = polygons.loc[(code >= 0) & ~is_building, ["geometry"]].assign(
        clutter=code[(code >= 0) & ~is_building]
    )
    buildings = polygons.loc[is_building, ["geometry"]]
    return ClutterSource(
        gpd.GeoDataFrame(landuse, crs=WORK_CRS).reset_index(drop=True),
        gpd.GeoDataFrame(buildings, crs=WORK_CRS).reset_index(drop=True),
        source=str(Path(path)),
    )


def clutter_grid(
    source: ClutterSource | None, grid: RasterGrid, *, oversample: int = 5
) -> np.ndarray:
    """Clutter class per pixel of ``grid`` (uint8 codes, :data:`CLUTTER_NAMES`).

    Land use is burnt at pixel centres; the built-up share is counted on a grid ``oversample``
    times finer over the clutter data's extent only, so a region-size grid stays cheap.
    """
    classes = np.zeros(grid.shape, dtype="uint8")
    if source is None:
        return classes
    if len(source.landuse):
        ordered = source.landuse.assign(
            _order=source.landuse["clutter"].map({c: i for i, c in enumerate(_BURN_ORDER)})
        ).sort_values("_order", kind="stable")
        shapes = zip(
            np.asarray(ordered.geometry.array),
            ordered["clutter"].to_numpy(dtype="int64"),
            strict=True,
        )
        rasterize(shapes, out=classes, transform=grid.transform, dtype="uint8")
    if len(source.buildings):
        share = _built_share(source, grid, oversample)
        upgrade = np.isin(classes, (UNKNOWN, OPEN, FOREST, SUBURBAN))
        classes[upgrade & (share >= SUBURBAN_SHARE)] = SUBURBAN
        classes[upgrade & (share >= URBAN_SHARE)] = URBAN
    return classes


def _built_share(source: ClutterSource, grid: RasterGrid, oversample: int) -> np.ndarray:
    share = np.zeros(grid.shape, dtype="float32")
    xmin, ymin, xmax, ymax = source.buildings.total_bounds
    rows, cols, _ = grid.index(np.array([xmin, xmax]), np.array([ymax, ymin]))
    r0, r1 = max(int(rows[0]), 0), min(int(rows[1]) + 1, grid.height)
    c0, c1 = max(int(cols[0]), 0), min(int(cols[1]) + 1, grid.width)
    if r0 >= r1 or c0 >= c1:
        return share
    fine_res = grid.resolution / oversample
    fine = RasterGrid(
        grid.left + c0 * grid.resolution,
        grid.top - r0 * grid.resolution,
        (c1 - c0) * oversample,
        (r1 - r0) * oversample,
        fine_res,
    )
    burnt = rasterize(
        ((g, 1) for g in np.asarray(source.buildings.geometry.array)),
        out_shape=fine.shape,
        transform=fine.transform,
        dtype="uint8",
    )
    blocks = burnt.reshape(r1 - r0, oversample, c1 - c0, oversample).sum(axis=(1, 3))
    share[r0:r1, c0:c1] = blocks / float(oversample * oversample)
    return share


__all__ = [
    "CLUTTER_LOSS_DB",
    "CLUTTER_NAMES",
    "ClutterSource",
    "clutter_grid",
    "osm_target",
    "read_osm_clutter",
]
