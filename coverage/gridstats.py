"""Statistics per DDKN cell (1 km, 10 km, 100 m) over a release's addresses: the grid layer of
maps, tiles and exports.

Everything is integers and numpy on one sort of the addresses by cell: 850,000 addresses as
Python strings in a DataFrame grouped twice passed ~150 MB per call, this passes ~15 MB.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.errors import InvalidRequestError
from coverage.grid import CELL_PREFIX, CellKeys, cell_boxes, cell_names
from coverage.types import WORK_CRS
from coverage.zones import _check_aligned, _empty, _in_work_crs, address_xy

#: Columns of the grid statistics layer, in order.
GRID_COLUMNS = [
    "cell", "kommunekode", "addresses", "eligible", "eligible_if_zone", "no_data", "share_100",
    "median_best_down", "generated", "geometry",
]  # fmt: skip


def grid_cell_stats(
    addresses: gpd.GeoDataFrame, assessment: pd.DataFrame, size: int = 1000
) -> gpd.GeoDataFrame:
    """Statistics per DDKN cell (1 km by default) over every address with a position.

    Each cell carries its DDKN name, the municipality most of its addresses belong to (ties go to the
    lower code), the number of addresses, eligible and eligible-if-zone counts, ``no_data`` (addresses
    without mapping data), ``share_100`` (addresses with a fixed offer of at least 100 Mbit/s down,
    over **all** addresses in the cell: an address without data is not counted as served),
    ``median_best_down`` (over addresses with data) and ``generated``. Cells come sorted by row, then
    column.
    """
    if size not in CELL_PREFIX:
        raise InvalidRequestError(
            f"cell size {size} is not a DDKN cell size; expected one of {sorted(CELL_PREFIX)}"
        )
    addresses = _in_work_crs(addresses)
    _check_aligned(addresses, assessment)
    x, y = address_xy(addresses)
    located = np.isfinite(x) & np.isfinite(y)
    if not located.any():
        return _empty(GRID_COLUMNS)
    # Integers and numpy on one sort, each per-address array dropped when done with (850,000
    # addresses as Python strings in a DataFrame grouped twice passed ~150 MB per call), and views
    # rather than copies when every address has a position (as in a release).
    take: np.ndarray | slice = slice(None) if located.all() else located
    cells = CellKeys.of(x[take], y[take], size)  # one key per address, ordered as (row, column)
    del x, y
    down = assessment["best_down"].to_numpy("float64", na_value=np.nan)[take]
    order = np.lexsort((down, cells.key))  # by cell, then speed (NaN last): for the median
    new = _run_starts(cells.key[order])
    starts = np.flatnonzero(new)
    r, c = cells.row_col(cells.key[order[starts]])
    n = len(starts)
    cell = np.empty(len(order), dtype=np.int32)  # each address's cell number
    cell[order] = np.cumsum(new, dtype=np.int32) - 1
    sorted_down = down[order]
    del cells, order, new

    def count(flags: np.ndarray) -> np.ndarray:
        return np.bincount(cell[flags], minlength=n).astype("int64")

    total, no_data = np.bincount(cell, minlength=n).astype("int64"), count(np.isnan(down))
    stats = {"addresses": total, "no_data": no_data, "share_100": count(down >= 100) / total}
    # pandas' median: over the addresses with data, the mean of the two middle speeds; NaN for none.
    valid = total - no_data
    low, high = starts + np.maximum(valid - 1, 0) // 2, starts + valid // 2
    stats["median_best_down"] = np.where(
        valid > 0, (sorted_down[low] + sorted_down[high]) / 2, np.nan
    )
    del down, sorted_down
    klass, classes = _text_codes(assessment["class"])
    for name in ("eligible", "eligible_if_zone"):  # the class's code; none if no address has it
        stats[name] = count(np.isin(klass, np.flatnonzero(classes == name))[take])
    del klass
    generated = addresses["generated"].fillna(False).to_numpy(dtype=bool)[take]
    if "generated" in assessment.columns:  # not in place: ``generated`` may be a view
        generated = generated | assessment["generated"].fillna(False).to_numpy(dtype=bool)[take]
    stats["generated"] = count(generated) > 0
    stats["kommunekode"] = _majority(addresses["kommunekode"], take, cell, n)
    stats["cell"] = pd.array(cell_names(c * float(size), r * float(size), size), dtype="string")
    frame = pd.DataFrame(stats)
    return gpd.GeoDataFrame(frame, geometry=cell_boxes(r, c, size), crs=WORK_CRS)[GRID_COLUMNS]


def _majority(
    kommunekode: pd.Series, take: np.ndarray | slice, cell: np.ndarray, n: int
) -> np.ndarray:
    """The code most of each cell's addresses have (ties to the lower code; NaN when none has one)."""
    codes, texts = _text_codes(kommunekode)
    codes = codes[take]
    has, k = codes >= 0, max(len(texts), 1)
    pairs, counts = np.unique(cell[has].astype(np.int64) * k + codes[has], return_counts=True)
    pair_cell, pair_code = np.divmod(pairs, k)
    # Pairs come sorted by cell, then code: a stable sort on (cell, most addresses first) keeps the
    # lower code first among equal counts.
    best = np.lexsort((-counts, pair_cell))
    first = best[_run_starts(pair_cell[best])]
    out = np.full(n, np.nan, dtype=object)
    out[pair_cell[first]] = texts.to_numpy(dtype=object)[pair_code[first]]
    return out


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins (a sorted array's groups)."""
    starts = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    return starts


def _text_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A column's values as text (as ``astype("string")`` gives them): codes into its distinct texts
    in sorted order (-1 for missing) and those texts; no Python string per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        remap, texts = pd.factorize(values.cat.categories.astype("string"), sort=True)
        return np.append(remap, -1)[values.cat.codes.to_numpy()], texts
    return pd.factorize(values.astype("string"), sort=True)


__all__ = ["GRID_COLUMNS", "grid_cell_stats"]
