"""Aggregation on crafted points: exact medians, counts, Wilson intervals and withheld cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.mobile.aggregate import aggregate, group_quantiles, wilson_interval

T0 = pd.Timestamp("2026-05-01T10:00:00Z")
# Cell 100m_61868_6025 spans east 602500-602600, north 6186800-6186900; B is its east neighbour.
A = (602550.0, 6186850.0)
B = (602650.0, 6186850.0)


def samples(cell, operator, technology, devices, down, rsrp, up=None, minutes=0):
    n = len(devices)
    return pd.DataFrame(
        {
            "east": [cell[0]] * n,
            "north": [cell[1]] * n,
            "operator": operator,
            "technology": technology,
            "device": devices,
            "down": np.asarray(down, dtype="float32"),
            "up": np.asarray(up if up is not None else [np.nan] * n, dtype="float32"),
            "rsrp": np.asarray(rsrp, dtype="float32"),
            "time": [T0 + pd.Timedelta(minutes=minutes + i) for i in range(n)],
            "generated": False,
        }
    )


@pytest.fixture
def crafted():
    return pd.concat(
        [
            # Published: 6 samples from 3 devices.
            samples(A, "TDC", "4G", ["a", "a", "b", "b", "c", "c"], [10, 20, 30, 40, 50, 60],
                    [-120, -115, -110, -105, -100, -95], up=[1, 2, 3, np.nan, 5, 6]),
            # Published: 5 samples from 5 devices, every one at or above the threshold.
            samples(A, "TDC", "5G NSA", ["a", "b", "c", "d", "e"], [500, 100, 400, 200, 300],
                    [-90] * 5, minutes=100),
            # Withheld: 5 samples but only 2 devices.
            samples(A, "Telia", "4G", ["x", "x", "x", "y", "y"], [1, 2, 3, 4, 5], [-130] * 5),
            # Withheld: 4 devices but only 4 samples (in the neighbouring cell).
            samples(B, "TDC", "4G", ["p", "q", "r", "s"], [70, 80, 90, 100], [-80] * 4,
                    minutes=200),
        ],
        ignore_index=True,
    )  # fmt: skip


def test_exact_statistics_per_100m_cell(crafted):
    result = aggregate(crafted, 100, -110)
    cells = result.cells.set_index(["operator", "technology"])
    assert set(cells.index) == {("TDC", "4G"), ("TDC", "5G NSA")}
    assert set(result.cells["cell"]) == {"100m_61868_6025"}

    lte = cells.loc[("TDC", "4G")]
    assert (lte["samples"], lte["devices"]) == (6, 3)
    assert (lte["down_median"], lte["down_p10"], lte["down_p90"]) == (35.0, 15.0, 55.0)
    # Upload has one missing value: quantiles over the 5 present ones.
    assert lte["up_median"] == 3.0
    assert lte["up_p10"] == pytest.approx(1.4)
    assert lte["up_p90"] == pytest.approx(5.6)
    assert lte["rsrp_median"] == -107.5
    assert lte["rsrp_samples"] == 6 and lte["rsrp_share"] == pytest.approx(4 / 6)
    # Wilson 95 % for 4 of 6 (published value: 0.300 to 0.903).
    assert lte["rsrp_share_low"] == pytest.approx(0.3000, abs=5e-4)
    assert lte["rsrp_share_high"] == pytest.approx(0.9032, abs=5e-4)
    assert lte["newest"] == T0 + pd.Timedelta(minutes=5)

    nr = cells.loc[("TDC", "5G NSA")]
    assert (nr["samples"], nr["devices"]) == (5, 5)
    assert (nr["down_median"], nr["down_p10"], nr["down_p90"]) == (300.0, 140.0, 460.0)
    # 5 of 5: the lower bound is n / (n + z²) = 0.5655.
    assert nr["rsrp_share"] == 1.0
    assert nr["rsrp_share_low"] == pytest.approx(0.5655, abs=5e-4)
    assert nr["rsrp_share_high"] == 1.0
    assert np.isnan(nr["up_median"])


def test_small_groups_are_counted_never_shown(crafted):
    result = aggregate(crafted, 100)
    assert result.withheld == 2 and result.withheld_samples == 9
    shown = set(zip(result.cells["cell"], result.cells["operator"], strict=True))
    assert ("100m_61868_6025", "Telia") not in shown
    assert not (result.cells["cell"] == "100m_61868_6026").any()
    # Nothing of a withheld group leaks into a published one (Telia's -130 dBm is not counted).
    assert result.cells["rsrp_samples"].sum() == 11


def test_1km_cells_merge_the_100m_groups(crafted):
    result = aggregate(crafted, 1000)
    cells = result.cells.set_index(["operator", "technology"])
    lte = cells.loc[("TDC", "4G")]
    assert lte["cell"] == "1km_6186_602"
    assert (lte["samples"], lte["devices"]) == (10, 7)
    assert lte["down_median"] == 55.0  # 10 20 30 40 50 | 60 70 80 90 100
    assert lte["newest"] == T0 + pd.Timedelta(minutes=203)
    assert result.withheld == 1 and result.withheld_samples == 5


def test_geodataframe_has_the_cell_squares(crafted):
    frame = aggregate(crafted, 100).geodataframe()
    assert frame.crs.to_epsg() == 25832
    assert frame.geometry.iloc[0].bounds == (602500.0, 6186800.0, 602600.0, 6186900.0)


def test_privacy_rule_is_a_parameter(crafted):
    result = aggregate(crafted, 100, min_samples=1, min_devices=1)
    assert result.withheld == 0 and len(result.cells) == 4


def test_empty_input():
    empty = pd.DataFrame(
        {c: [] for c in ("east", "north", "operator", "technology", "device", "time",
                         "down", "up", "rsrp")}
    )  # fmt: skip
    result = aggregate(empty, 100)
    assert result.cells.empty and result.withheld == 0


def test_wrong_cell_size():
    with pytest.raises(ValueError, match="cell size"):
        aggregate(pd.DataFrame(), 250)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (4, 6, 0.3000, 0.9032), (10, 10, 0.7225, 1.0)],
)
def test_wilson_interval_known_values(k, n, low, high):
    lo, hi = wilson_interval(np.array([k]), np.array([n]))
    assert lo[0] == pytest.approx(low, abs=5e-4) and hi[0] == pytest.approx(high, abs=5e-4)


def test_wilson_interval_without_samples_is_nan():
    lo, hi = wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])


values = st.lists(
    st.tuples(st.integers(0, 4), st.floats(-1e4, 1e4, width=32, allow_nan=False)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(values)
def test_group_quantiles_match_numpy(pairs):
    groups = np.array([g for g, _ in pairs])
    vals = np.array([v for _, v in pairs], dtype="float32")
    counts, (p10, med, p90) = group_quantiles(groups, vals, 5, (0.1, 0.5, 0.9))
    for g in range(5):
        mine = vals[groups == g].astype("float64")
        assert counts[g] == mine.size
        if mine.size == 0:
            assert np.isnan(med[g])
            continue
        expected = np.quantile(mine, [0.1, 0.5, 0.9])
        np.testing.assert_allclose([p10[g], med[g], p90[g]], expected, rtol=1e-9, atol=1e-6)
