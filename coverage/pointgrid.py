"""Nearest-point search on a sorted grid of cells: numpy arrays instead of 850,000 shapely points.

Points (EPSG:25832 metres) are bucketed in square cells and sorted by cell, column-major, so the cells
of one column of a search window are one contiguous slice found with ``np.searchsorted``. A query
within ``d`` metres reads the slices of the few columns the window covers and measures exact
distances to the points in them. The whole grid of a region's 850,000 addresses is ~10 MB, where an
STRtree over shapely points took ~230 MB (points and tree).
"""

from __future__ import annotations

import numpy as np

#: Cell side, metres: about the nearest-address distance, so a default query reads 2 × 2 cells.
CELL = 100.0
#: Beyond this many cell columns a query measures every point instead of walking the columns.
_MAX_COLUMNS = 4096


class PointGrid:
    """Points ``x[entries], y[entries]`` (the full ``x`` and ``y`` arrays are kept by reference)
    indexed by cell; :meth:`within` and :meth:`nearest` answer with entries and distances."""

    def __init__(self, x: np.ndarray, y: np.ndarray, entries: np.ndarray, cell: float = CELL):
        self.x, self.y, self.cell = x, y, float(cell)
        entries = np.asarray(entries, dtype=np.int64)
        cx = np.floor(x[entries] / self.cell).astype(np.int64)
        cy = np.floor(y[entries] / self.cell).astype(np.int64)
        self.origin = (int(cx.min()), int(cy.min())) if len(entries) else (0, 0)
        self.columns = int(cx.max()) - self.origin[0] + 1 if len(entries) else 0
        self.rows = int(cy.max()) - self.origin[1] + 1 if len(entries) else 0
        key = (cx - self.origin[0]) * self.rows + (cy - self.origin[1])
        order = np.lexsort((entries, key))  # ties keep entry order
        self.key = key[order]
        self.entry = entries[order].astype(np.int32)

    def __len__(self) -> int:
        return len(self.entry)

    def within(self, x: float, y: float, distance: float) -> tuple[np.ndarray, np.ndarray]:
        """Entries of the points at most ``distance`` metres from (x, y) and their distances, in
        the grid's order (sort them as needed)."""
        if len(self.entry) == 0 or not distance >= 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        c0 = max(int(np.floor((x - distance) / self.cell)) - self.origin[0], 0)
        c1 = min(int(np.floor((x + distance) / self.cell)) - self.origin[0], self.columns - 1)
        r0 = max(int(np.floor((y - distance) / self.cell)) - self.origin[1], 0)
        r1 = min(int(np.floor((y + distance) / self.cell)) - self.origin[1], self.rows - 1)
        if c0 > c1 or r0 > r1:
            return np.empty(0, dtype=np.int64), np.empty(0)
        if c1 - c0 + 1 > _MAX_COLUMNS:
            found = self.entry.astype(np.int64)
        else:
            columns = np.arange(c0, c1 + 1, dtype=np.int64) * self.rows
            starts = np.searchsorted(self.key, columns + r0, side="left")
            ends = np.searchsorted(self.key, columns + r1, side="right")
            found = self.entry[
                np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
            ]
            found = found.astype(np.int64)
        dx, dy = self.x[found] - x, self.y[found] - y
        dist = np.sqrt(dx * dx + dy * dy)  # as GEOS measures a point-to-point distance
        keep = dist <= distance
        return found[keep], dist[keep]

    def nearest(self, x: float, y: float, max_distance: float) -> tuple[int, float] | None:
        """The entry of the point nearest to (x, y) within ``max_distance`` and its distance; among
        equally near points the lowest entry. None when no point is that close."""
        found, dist = self.within(x, y, max_distance)
        if len(found) == 0:
            return None
        best = dist.min()
        entry = int(found[dist == best].min())
        return entry, float(best)


__all__ = ["CELL", "PointGrid"]
