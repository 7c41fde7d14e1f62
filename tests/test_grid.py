"""DDKN cell keys: one integer per point that sorts and groups as (row, column) do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.grid import CellKeys, cell_indices


def _points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Samsø to the region's far corner, with points on cell edges and repeated cells.
    x = np.concatenate([rng.uniform(440_000, 660_000, n), [590_000.0, 590_000.0, 590_099.999]])
    y = np.concatenate([rng.uniform(6_170_000, 6_310_000, n), [6_190_000.0] * 2 + [6_190_099.999]])
    return x, y


def test_keys_give_back_rows_and_columns():
    x, y = _points(5_000)
    for size in (100, 1000, 10000):
        rows, cols = cell_indices(x, y, size)
        keys = CellKeys.of(x, y, size)
        back_rows, back_cols = keys.row_col(keys.key)
        assert np.array_equal(back_rows, rows) and np.array_equal(back_cols, cols)


def test_groups_are_the_cells_in_row_then_column_order():
    x, y = _points(20_000)
    rows, cols = cell_indices(x, y, 1000)
    keys = CellKeys.of(x, y, 1000)
    order, starts = keys.groups()
    expected = pd.DataFrame({"r": rows, "c": cols}).groupby(["r", "c"], sort=True).size()
    assert len(starts) == len(expected)
    r, c = keys.row_col(keys.key[order][starts])
    assert np.array_equal(r, expected.index.get_level_values("r"))
    assert np.array_equal(c, expected.index.get_level_values("c"))
    assert np.array_equal(np.diff(np.append(starts, len(order))), expected.to_numpy())
    # stable: within a cell the points keep their input order
    for s, e in zip(starts[:50], np.append(starts, len(order))[1:51], strict=True):
        assert np.all(np.diff(order[s:e]) > 0)


def test_no_points():
    keys = CellKeys.of(np.array([]), np.array([]), 100)
    order, starts = keys.groups()
    assert len(order) == 0 and len(starts) == 0
