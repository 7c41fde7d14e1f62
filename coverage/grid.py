"""Det Danske Kvadratnet (DDKN): the national square grid in EPSG:25832.

A cell is named from its lower-left corner, ``<size>_<north div size>_<east div size>``, e.g.
east 602551.91, north 6186812.07 lies in ``100m_61868_6025``, ``1km_6186_602``, ``10km_618_60``.
Everything here is integer arithmetic on coordinate arrays; no geometry is built until asked.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

#: Supported cell sizes in metres and their name prefixes.
CELL_PREFIX = {100: "100m", 1000: "1km", 10000: "10km"}


class Cell(NamedTuple):
    """One DDKN cell by size (metres) and integer row / column (north div size, east div size)."""

    size: int
    row: int
    col: int

    @property
    def name(self) -> str:
        """The official cell name, e.g. ``100m_61868_6025``."""
        return f"{CELL_PREFIX[self.size]}_{self.row}_{self.col}"


def cell_indices(east: np.ndarray, north: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (north div size) and column (east div size) for every point."""
    return (
        np.floor_divide(np.asarray(north, dtype="float64"), size).astype("int64"),
        np.floor_divide(np.asarray(east, dtype="float64"), size).astype("int64"),
    )


def cell_name_array(east: np.ndarray, north: np.ndarray, size: int) -> pa.Array:
    """Cell names for every point as an Arrow string array (no Python objects: fast for millions)."""
    if size not in CELL_PREFIX:
        raise ValueError(f"DDKN cell size must be one of {sorted(CELL_PREFIX)}, got {size}")
    rows, cols = cell_indices(east, north, size)
    return pc.binary_join_element_wise(
        pa.scalar(CELL_PREFIX[size]),
        pa.array(rows).cast(pa.string()),
        pa.array(cols).cast(pa.string()),
        "_",
    )


def cell_names(east: np.ndarray, north: np.ndarray, size: int) -> np.ndarray:
    """Cell names for every point, as an object array of ``str``."""
    return np.asarray(cell_name_array(east, north, size).to_pylist(), dtype=object)


def cell_boxes(rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Square polygons for cells given by row / column, in EPSG:25832."""
    x0 = np.asarray(cols, dtype="float64") * size
    y0 = np.asarray(rows, dtype="float64") * size
    return shapely.box(x0, y0, x0 + size, y0 + size)


class CellKeys:
    """One integer key per address for its DDKN cell, ordered as (row, column) are, so sorting or
    grouping on it visits cells in the order a groupby on both would: one region-size array
    instead of two and the frame around them."""

    #: Bits of the key that hold the column offset (a region spans far fewer columns).
    _SHIFT = 24

    def __init__(self, key: np.ndarray, row0: int, col0: int) -> None:
        self.key, self.row0, self.col0 = key, row0, col0

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, size: int) -> CellKeys:
        """The cell keys of points in EPSG:25832 (all with a position)."""
        rows, cols = cell_indices(x, y, size)
        if len(rows) == 0:
            return cls(rows, 0, 0)
        row0, col0 = int(rows.min()), int(cols.min())
        rows -= row0
        rows <<= cls._SHIFT
        cols -= col0
        rows += cols
        return cls(rows, row0, col0)

    def row_col(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell row and column (``cell_indices``) of keys."""
        keys = np.asarray(keys, dtype=np.int64)
        return (keys >> self._SHIFT) + self.row0, (keys & ((1 << self._SHIFT) - 1)) + self.col0

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """A stable order of the points by cell and where each cell starts in it."""
        order = np.argsort(self.key, kind="stable")
        ordered = self.key[order]
        starts = np.flatnonzero(np.diff(ordered, prepend=ordered[:1] - 1))
        return order, starts
