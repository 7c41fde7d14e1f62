"""The model's raster grid, Cloud-Optimised GeoTIFF writing, and sampling rasters at points.

Grids are in EPSG:25832 with their origin on a multiple of the resolution, so 50 m pixels nest
exactly in the 100 m and 1 km cells of Det Danske Kvadratnet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window

from coverage.errors import SourceError
from coverage.types import WORK_CRS

#: Raster value written where there is no data (outside the region); int16 layers.
NODATA = -32768

#: Tile size of the COGs, pixels.
BLOCK = 256


@dataclass(frozen=True)
class RasterGrid:
    """A north-up grid: top-left corner, size in pixels and pixel size (metres, EPSG:25832)."""

    left: float
    top: float
    width: int
    height: int
    resolution: float

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], resolution: float) -> RasterGrid:
        """The smallest aligned grid covering ``(xmin, ymin, xmax, ymax)``."""
        if not resolution > 0:
            raise ValueError(f"resolution must be positive, got {resolution}")
        x0 = math.floor(bounds[0] / resolution) * resolution
        y0 = math.floor(bounds[1] / resolution) * resolution
        x1 = math.ceil(bounds[2] / resolution) * resolution
        y1 = math.ceil(bounds[3] / resolution) * resolution
        width = max(1, round((x1 - x0) / resolution))
        height = max(1, round((y1 - y0) / resolution))
        return cls(x0, y1, width, height, float(resolution))

    @property
    def transform(self) -> Affine:
        """The affine transform from pixel (col, row) to EPSG:25832."""
        return Affine(self.resolution, 0.0, self.left, 0.0, -self.resolution, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax)."""
        return (
            self.left,
            self.top - self.height * self.resolution,
            self.left + self.width * self.resolution,
            self.top,
        )

    def index(
        self, east: np.ndarray, north: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of each point, and whether it falls on the grid."""
        col = np.floor((np.asarray(east, dtype="float64") - self.left) / self.resolution)
        row = np.floor((self.top - np.asarray(north, dtype="float64")) / self.resolution)
        inside = (row >= 0) & (row < self.height) & (col >= 0) & (col < self.width)
        return row.astype("int64"), col.astype("int64"), inside

    def mask(self, geometry: shapely.Geometry) -> np.ndarray:
        """True for pixels whose centre lies in the geometry."""
        return ~geometry_mask(
            [geometry], out_shape=self.shape, transform=self.transform, invert=False
        )


def write_cog(path: Path, values: np.ndarray, grid: RasterGrid, *, tags: dict[str, str]) -> Path:
    """Write an int16 band as a Cloud-Optimised GeoTIFF with overviews (DEFLATE, 256 px tiles).

    Tiles are 256 px like web map tiles. Overviews halve down to one tile, and there is always at
    least one: GDAL would give a raster smaller than a tile none, and a viewer then reads full
    resolution at every zoom.

    NaN becomes :data:`NODATA`; other values are rounded to whole units (RSRP is reported in
    whole dBm, so nothing measurable is lost).
    """
    out = np.where(np.isnan(values), NODATA, np.rint(values)).astype("int16")
    levels = max(1, math.ceil(math.log2(max(grid.width, grid.height) / BLOCK)))
    profile = {
        "driver": "COG",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "int16",
        "crs": WORK_CRS,
        "transform": grid.transform,
        "nodata": NODATA,
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": BLOCK,
        "overview_count": levels,
        "overview_resampling": "average",
        "num_threads": 2,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out, 1)
        dst.update_tags(**tags)
    tmp.replace(path)  # a reader never sees half a file
    return path


def read_band(path: str | Path) -> tuple[np.ndarray, RasterGrid]:
    """A whole single-band raster as float32 with NaN for no data, and its grid."""
    try:
        with rasterio.open(path) as src:
            band = src.read(1, masked=True)
            t = src.transform
            grid = RasterGrid(t.c, t.f, src.width, src.height, t.a)
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(path, f"raster cannot be read: {exc}") from None
    return band.astype("float32").filled(np.nan), grid


def sample(path: str | Path, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """Raster values at points (NaN off the raster or on no data), reading only their window."""
    east = np.asarray(east, dtype="float64")
    north = np.asarray(north, dtype="float64")
    out = np.full(east.shape, np.nan, dtype="float32")
    if east.size == 0:
        return out
    try:
        with rasterio.open(path) as src:
            t = src.transform
            grid = RasterGrid(t.c, t.f, src.width, src.height, t.a)
            rows, cols, inside = grid.index(east, north)
            if not inside.any():
                return out
            r0, r1 = int(rows[inside].min()), int(rows[inside].max()) + 1
            c0, c1 = int(cols[inside].min()), int(cols[inside].max()) + 1
            band = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(path, f"raster cannot be read: {exc}") from None
    values = band.astype("float32").filled(np.nan)
    out[inside] = values[rows[inside] - r0, cols[inside] - c0]
    return out


__all__ = ["BLOCK", "NODATA", "RasterGrid", "read_band", "sample", "write_cog"]
