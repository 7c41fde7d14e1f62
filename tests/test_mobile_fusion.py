"""Fusion per address on crafted data: declared, measured and modelled side by side, and the flag."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.mobile.aggregate import aggregate
from coverage.mobile.calibrate import Calibration, ErrorStats
from coverage.mobile.fusion import agreement, confusion_matrix, fuse, gap_flag_layer
from coverage.mobile.model import model_rasters
from coverage.mobile.propagation import TECHNOLOGY_PROFILES, expected_down_mbit
from coverage.mobile.raster import sample
from coverage.types import WORK_CRS

SITE = (600_025.0, 6_190_025.0)
REGION = shapely.box(597_000.0, 6_187_000.0, 603_000.0, 6_193_000.0)
PROFILES = {
    "4G": replace(TECHNOLOGY_PROFILES["4G"], max_radius_m=2_500.0),
    "5G": replace(TECHNOLOGY_PROFILES["5G"], max_radius_m=2_500.0),
}
# Three addresses: next to the site, 1.2 km east, and 2.8 km west (beyond every site's reach).
POINTS = [(600_040.0, 6_190_040.0), (601_240.0, 6_190_040.0), (597_240.0, 6_190_040.0)]


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    sites = pd.DataFrame(
        {
            "site_id": ["a"],
            "operator": ["TDC"],
            "technologies": ["4G;5G"],
            "height_m": [30.0],
            "azimuth": [np.nan],
            "power": [np.nan],
            "mobile": [True],
            "east": [SITE[0]],
            "north": [SITE[1]],
            "generated": [True],
        }
    )
    out = tmp_path_factory.mktemp("fusion")
    return model_rasters(sites, REGION, out, 50, profiles=PROFILES, coast_buffer_m=0)


@pytest.fixture
def addresses():
    ids = ["a0000000-0000-0000-0000-000000000001", "a0000000-0000-0000-0000-000000000002",
           "a0000000-0000-0000-0000-000000000003"]  # fmt: skip
    frame = pd.DataFrame(
        {
            "id": ids,
            "vejnavn": ["Vej", "Vej", "Vej"],
            "husnr": ["1", "2", "3"],
            "postnr": ["8305"] * 3,
            "kommunekode": ["0741"] * 3,
            "east": [p[0] for p in POINTS],
            "north": [p[1] for p in POINTS],
            "generated": False,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=shapely.points(POINTS), crs=WORK_CRS)


@pytest.fixture
def availability(addresses):
    return pd.DataFrame(
        {
            "address_id": [*addresses["id"], pd.NA],
            "vejnavn": ["Vej", "Vej", "Vej", "Ny Vej"],
            "mobile_down": np.array([1000.0, 200.0, 50.0, 100.0], dtype="float32"),
            "mobile_up": np.array([50.0, 10.0, 3.0, 5.0], dtype="float32"),
            "year": pd.array([2026] * 4, dtype="Int16"),
            "generated": [False] * 4,
        }
    )


def measured_cells(cell_east, downs, devices):
    n = len(downs)
    frame = pd.DataFrame(
        {
            "east": [cell_east] * n,
            "north": [6_190_040.0] * n,
            "operator": "Telia",
            "technology": "5G NSA",
            "device": devices,
            "down": np.asarray(downs, dtype="float32"),
            "up": np.float32(np.nan),
            "rsrp": np.float32(-90.0),
            "time": pd.Timestamp("2026-04-01T08:00:00Z"),
            "generated": True,
        }
    )
    return frame


def test_fusion_side_by_side(layers, addresses, availability):
    # 6 samples from 3 devices at the first address, all well below the declared 600+.
    m = measured_cells(600_040.0, [100, 150, 200, 250, 300, 350], ["a", "a", "b", "b", "c", "c"])
    cells = [aggregate(m, 100), aggregate(m, 1000)]
    fused = fuse(addresses, availability, layers, cells)
    assert len(fused) == 3 and fused.crs.to_epsg() == 25832

    first = fused.iloc[0]
    assert first["declared_down"] == 1000 and first["declared_class"] == "600+"
    assert first["declared_source"] == "Bredbåndskortlægning 2026"
    assert first["declared_confidence"] == "medium"
    assert first["measured_cell"] == "100m_61900_6000"
    assert (first["measured_samples"], first["measured_devices"]) == (6, 3)
    assert first["measured_down_median"] == 225.0 and first["measured_class"] == "100–599"
    assert first["measured_confidence"] == "medium"  # a 100 m cell, but fewer than 30 samples
    assert "6 samples from 3 devices, best Telia 5G NSA" in first["measured_source"]
    assert first["measured_source"].endswith("(generated)")
    assert first["declared_vs_observed_gap"]
    assert first["gap_reason"] == (
        "declared 600+ (1000 Mbit/s) but 90 % of 6 samples in 100m_61900_6000 are below that "
        "(p90 325 Mbit/s)"
    )
    assert first["generated"]  # measured evidence is generated

    # Modelled: the best of the 4G and 5G layers by expected speed, with its indoor twin.
    for i, row in fused.iterrows():
        x, y = np.array([POINTS[i][0]]), np.array([POINTS[i][1]])
        by_tech = {
            la.technology: sample(la.path, x, y)[0] for la in layers if la.environment == "outdoor"
        }
        speeds = {t: expected_down_mbit(np.array([v]), PROFILES[t])[0] for t, v in by_tech.items()}
        best = max(speeds, key=lambda t: (speeds[t], by_tech[t]))
        assert row["modelled_technology"] == best
        assert row["modelled_rsrp_outdoor"] == by_tech[best]
        assert row["modelled_down"] == pytest.approx(round(speeds[best], 1), abs=0.06)
        indoor = next(la for la in layers if la.environment == "indoor" and la.technology == best)
        assert row["modelled_rsrp_indoor"] == sample(indoor.path, x, y)[0]
        assert row["modelled_operator"] == "TDC" and row["modelled_confidence"] == "low"
        assert "uncalibrated" in row["modelled_source"]
    assert fused["modelled_class"].iloc[0] == "600+"
    assert fused["modelled_class"].iloc[2] == "below 100"  # beyond reach: the floor
    # No measurements at the other two: nothing measured, no flag.
    assert list(fused["measured_confidence"].iloc[1:]) == ["none", "none"]
    assert not fused["declared_vs_observed_gap"].iloc[1:].any()


def test_flag_needs_solid_evidence_and_a_clear_gap(layers, addresses, availability):
    # p90 reaches 600: measurements do not clearly contradict a declared 600+.
    m = measured_cells(600_040.0, [100, 200, 300, 400, 900, 950], ["a", "b", "c", "a", "b", "c"])
    fused = fuse(addresses, availability, layers, [aggregate(m, 100)])
    assert not fused["declared_vs_observed_gap"].any()
    # Only a 1 km cell with few samples: low confidence, no flag either.
    m = measured_cells(600_540.0, [10, 20, 30, 40, 50], ["a", "b", "c", "d", "e"])
    fused = fuse(addresses, availability, layers, [aggregate(m, 1000)])
    assert fused["measured_confidence"].iloc[0] == "low"
    assert fused["measured_cell"].iloc[0] == "1km_6190_600"
    assert not fused["declared_vs_observed_gap"].any()
    assert gap_flag_layer(fused).empty


def test_gap_flag_layer_and_high_confidence(layers, addresses, availability):
    devices = [f"d{i % 6}" for i in range(40)]
    m = measured_cells(601_240.0, [20.0 + i for i in range(40)], devices)  # second address
    fused = fuse(addresses, availability, layers, [aggregate(m, 100)])
    assert fused["measured_confidence"].iloc[1] == "high"
    flagged = gap_flag_layer(fused)
    assert list(flagged["id"]) == [addresses["id"].iloc[1]]
    assert flagged.crs.to_epsg() == 25832
    assert flagged.geometry.iloc[0].equals(shapely.Point(POINTS[1]))
    assert "declared 100–599 (200 Mbit/s)" in flagged["gap_reason"].iloc[0]


def test_calibrated_layer_raises_confidence(layers, addresses, availability):
    good = Calibration(-2.0, 500, 200, 20, 8, ErrorStats(200, -2.1, 6.0, 7.9),
                       ErrorStats(200, 0.1, 5.0, 6.5))  # fmt: skip
    calibrated = [replace(la, calibration=good) for la in layers]
    fused = fuse(addresses, availability, calibrated)
    assert (fused["modelled_confidence"].iloc[:2] == "medium").all()
    assert (
        "calibrated -2.0 dB on 500 samples, held-out RMSE 7.9 → 6.5 dB"
        in (fused["modelled_source"].iloc[0])
    )


def test_confusion_matrix_and_agreement(layers, addresses, availability):
    fused = fuse(addresses, availability, layers)
    matrix = confusion_matrix(fused)
    assert list(matrix.index) == ["below 100", "100–599", "600+"]
    assert matrix.to_numpy().sum() == 3
    assert matrix.loc["600+", "600+"] == 1 and matrix.loc["below 100", "below 100"] == 1
    assert (
        agreement(matrix) == pytest.approx(np.trace(matrix.to_numpy()) / 3)
        and 0 < agreement(matrix) <= 1
    )
