"""The 100 m raster behind :class:`coverage.points.PointIndex`: extent, municipality cells, medians.

The raster is aligned with the DDKN 100 m grid (EPSG:25832), so a raster cell is a DDKN cell and a
point's cell is two floor divisions. :func:`municipality_raster` burns the municipality polygons into
it and marks every cell that a boundary reaches (or two polygons claim) as a border cell, with the
candidate polygons of each border cell as a bit mask; :mod:`coverage.points` explains why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from affine import Affine

#: Cell size of the raster: DDKN 100 m.
CELL = 100
#: Raster value of a cell outside every municipality; border cells count down from BORDER.
OUTSIDE, BORDER = -1, -2


@dataclass(frozen=True)
class Grid:
    """The raster's extent in DDKN 100 m rows (north div 100) and columns (east div 100)."""

    row0: int
    col0: int
    nrows: int
    ncols: int

    def flat(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat raster index of each (row, col) and whether it lies on the raster (index 0 if not)."""
        r, c = rows - self.row0, cols - self.col0
        inside = (r >= 0) & (r < self.nrows) & (c >= 0) & (c < self.ncols)
        return np.where(inside, r * self.ncols + c, 0), inside


def grid_for(bounds: np.ndarray, east: np.ndarray, north: np.ndarray, margin_m: float) -> Grid:
    """Raster extent covering the municipalities and every address, plus ``margin_m`` metres."""
    xmin, ymin, xmax, ymax = bounds
    if len(east):
        xmin, xmax = min(xmin, east.min()), max(xmax, east.max())
        ymin, ymax = min(ymin, north.min()), max(ymax, north.max())
    margin = math.ceil(margin_m / CELL) + 1
    row0, col0 = int(ymin // CELL) - margin, int(xmin // CELL) - margin
    return Grid(
        row0, col0, int(ymax // CELL) + margin + 1 - row0, int(xmax // CELL) + margin + 1 - col0
    )


def municipality_raster(grid: Grid, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The municipality raster (see :attr:`PointIndex.municipality`) and each border cell's
    candidate polygons (see :attr:`PointIndex.candidates`)."""
    shape = (grid.nrows, grid.ncols)
    words = max(1, math.ceil(len(geoms) / 64))
    present = [(g, k) for k, g in enumerate(geoms) if g is not None and not shapely.is_empty(g)]
    if not present:
        return np.full(grid.nrows * grid.ncols, OUTSIDE, np.int32), np.zeros((0, words), np.uint64)
    transform = cell_transform(grid.row0, grid.col0)
    value = rasterio.features.rasterize(
        [(g, k + 1) for g, k in present], out_shape=shape, transform=transform, dtype="int32"
    )
    claims = rasterio.features.rasterize(
        [(g, 1) for g, _ in present],
        out_shape=shape,
        transform=transform,
        dtype="uint8",
        merge_alg=rasterio.features.MergeAlg.add,
    )
    lines = shapely.boundary(np.array([g for g, _ in present], dtype=object))
    edge = rasterio.features.rasterize(
        [(g, 1) for g in lines],
        out_shape=shape,
        transform=transform,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    # Every vertex's cell too (a part smaller than a cell), then one cell of growth: a boundary
    # grazing a cell corner is then never missed, whatever GDAL's line walk decides.
    mark_vertices(edge, shapely.get_coordinates(lines), grid.row0, grid.col0)
    border = np.flatnonzero((grow(edge, 1) | (claims > 1)).ravel())
    raster = value.ravel()
    raster -= 1  # in place: the raster spans the whole region
    raster[border] = BORDER - np.arange(len(border), dtype=np.int32)

    # Candidates: the cells each polygon touches (all_touched, its vertices, grown by one cell).
    number = np.full(raster.size, -1, dtype=np.int32)
    number[border] = np.arange(len(border), dtype=np.int32)
    candidates = np.zeros((len(border), words), dtype=np.uint64)
    for g, k in present:
        xmin, ymin, xmax, ymax = shapely.bounds(g)
        r0 = max(int(ymin // CELL) - grid.row0 - 1, 0)
        c0 = max(int(xmin // CELL) - grid.col0 - 1, 0)
        r1 = min(int(ymax // CELL) - grid.row0 + 2, grid.nrows)
        c1 = min(int(xmax // CELL) - grid.col0 + 2, grid.ncols)
        touched = rasterio.features.rasterize(
            [(g, 1)],
            out_shape=(r1 - r0, c1 - c0),
            transform=cell_transform(grid.row0 + r0, grid.col0 + c0),
            all_touched=True,
            dtype="uint8",
        ).astype(bool)
        mark_vertices(touched, shapely.get_coordinates(g), grid.row0 + r0, grid.col0 + c0)
        rr, cc = np.nonzero(grow(touched, 1))
        b = number[(rr + r0) * grid.ncols + cc + c0]
        candidates[b[b >= 0], k // 64] |= np.uint64(1 << (k % 64))
    return raster, candidates


def cell_transform(row0: int, col0: int) -> Affine:
    """Raster row 0 is the southern-most DDKN row: a positive y scale keeps that order."""
    return Affine(CELL, 0, col0 * CELL, 0, CELL, row0 * CELL)


def mark_vertices(mask: np.ndarray, xy: np.ndarray, row0: int, col0: int) -> None:
    """Set the cell of every vertex in ``mask`` (a part smaller than a cell is then not lost)."""
    r = np.floor_divide(xy[:, 1], CELL).astype(np.int64) - row0
    c = np.floor_divide(xy[:, 0], CELL).astype(np.int64) - col0
    ok = (r >= 0) & (r < mask.shape[0]) & (c >= 0) & (c < mask.shape[1])
    mask[r[ok], c[ok]] = True


def grow(mask: np.ndarray, cells: int) -> np.ndarray:
    """A 2-D mask grown by ``cells`` cells in every direction (the square neighbourhood)."""
    out = mask.copy()
    for _ in range(cells):
        rows = out.copy()
        rows[1:] |= out[:-1]
        rows[:-1] |= out[1:]
        out = rows.copy()
        out[:, 1:] |= rows[:, :-1]
        out[:, :-1] |= rows[:, 1:]
    return out


def positions(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in a sorted array, -1 where it is absent."""
    pos = np.minimum(np.searchsorted(sorted_values, values), max(len(sorted_values) - 1, 0))
    found = sorted_values[pos] == values if len(sorted_values) else np.zeros(len(values), bool)
    return np.where(found, pos, -1).astype(np.int32)


def cell_medians(cell: np.ndarray, down: np.ndarray, n_cells: int) -> np.ndarray:
    """Median of the known values per cell (mean of the middle two, as pandas), NaN for none."""
    known = np.isfinite(down)
    c, v = cell[known], down[known]
    order = np.lexsort((v, c))
    c, v = c[order], v[order]
    size = np.bincount(c, minlength=n_cells)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    out = np.full(n_cells, np.nan, dtype=np.float32)
    has = size > 0
    lo = first[has] + (size[has] - 1) // 2
    hi = first[has] + size[has] // 2
    out[has] = (v[lo] + v[hi]) / 2
    return out


__all__ = [
    "BORDER",
    "CELL",
    "OUTSIDE",
    "Grid",
    "cell_medians",
    "cell_transform",
    "grid_for",
    "grow",
    "mark_vertices",
    "municipality_raster",
    "positions",
]
