"""The propagation model: formulas, rasters on a small crafted region, clutter, calibration, COGs."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from coverage.errors import BuildError, NotFoundError
from coverage.mobile.clutter import ClutterSource
from coverage.mobile.colours import colour_map
from coverage.mobile.model import FLOOR_DBM, load_layers, model_rasters
from coverage.mobile.propagation import (
    TECHNOLOGY_PROFILES,
    expected_down_mbit,
    rma_path_loss,
    rsrp_for_speed,
    sector_pattern_db,
    uma_path_loss,
)
from coverage.mobile.raster import read_band, sample
from coverage.mobile.synth import draw_measurements, uniform_points
from coverage.types import WORK_CRS

# A site on a pixel centre (50 m grid) inside a 6 km square on Samsø's latitude.
SITE = (600_025.0, 6_190_025.0)
REGION = shapely.box(597_000.0, 6_187_000.0, 603_000.0, 6_193_000.0)
SMALL = {
    "4G": replace(TECHNOLOGY_PROFILES["4G"], max_radius_m=2_500.0),
    "5G": replace(TECHNOLOGY_PROFILES["5G"], max_radius_m=2_500.0),
}


def sites(rows):
    frame = pd.DataFrame(
        [
            {
                "site_id": f"s{i}",
                "operator": r.get("operator", "TDC"),
                "technologies": r.get("technologies", "4G"),
                "height_m": r.get("height_m", 30.0),
                "azimuth": r.get("azimuth", np.nan),
                "power": r.get("power", np.nan),
                "kind": "test",
                "mobile": True,
                "east": r.get("east", SITE[0]),
                "north": r.get("north", SITE[1]),
                "generated": True,
            }
            for i, r in enumerate(rows)
        ]
    )
    return gpd.GeoDataFrame(
        frame, geometry=shapely.points(frame["east"], frame["north"]), crs=WORK_CRS
    )


def test_uma_path_loss_matches_tr_38901_at_2km():
    # Table 7.4.1-1 written out independently: fc 3.5 GHz, hBS 25 m, hUT 1.5 m, d2D 2 km.
    d3 = math.hypot(2000.0, 23.5)
    nlos = 13.54 + 39.08 * math.log10(d3) + 20 * math.log10(3.5)
    d_bp = 4 * 24 * 0.5 * 3.5e9 / 299_792_458.0
    los = 28.0 + 40 * math.log10(d3) + 20 * math.log10(3.5) - 9 * math.log10(d_bp**2 + 23.5**2)
    p_los = 18 / 2000 + math.exp(-2000 / 63) * (1 - 18 / 2000)
    expected = p_los * los + (1 - p_los) * max(nlos, los)
    assert uma_path_loss(np.array([2000.0]), 25.0, 3.5)[0] == pytest.approx(expected, abs=1e-9)


def test_rma_path_loss_matches_tr_38901_at_3km():
    fc, hbs, hut, h, w, d2 = 0.8, 35.0, 1.5, 5.0, 20.0, 3000.0
    d3 = math.hypot(d2, hbs - hut)
    d_bp = 2 * math.pi * hbs * hut * fc * 1e9 / 299_792_458.0
    assert d2 > d_bp  # beyond the break point: PL2

    def pl1(d):
        return (
            20 * math.log10(40 * math.pi * d * fc / 3)
            + min(0.03 * h**1.72, 10) * math.log10(d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * d
        )

    d3_bp = math.hypot(d_bp, hbs - hut)
    los = pl1(d3_bp) + 40 * math.log10(d3 / d3_bp)
    nlos = (
        161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / hbs) ** 2) * math.log10(hbs)
        + (43.42 - 3.1 * math.log10(hbs)) * (math.log10(d3) - 3)
        + 20 * math.log10(fc) - (3.2 * math.log10(11.75 * hut) ** 2 - 4.97)
    )  # fmt: skip
    p_los = math.exp(-(d2 - 10) / 1000)
    expected = p_los * los + (1 - p_los) * max(los, nlos)
    assert rma_path_loss(np.array([d2]), hbs, fc)[0] == pytest.approx(expected, abs=1e-9)


def test_path_loss_properties():
    d = np.array([50.0, 200.0, 1000.0, 3000.0, 8000.0])
    for model in (rma_path_loss, uma_path_loss):
        for f in (0.8, 3.5):
            assert np.all(np.diff(model(d, 30.0, f)) > 0)  # farther is weaker
        assert np.all(model(d, 30.0, 3.5) > model(d, 30.0, 0.8))  # higher carrier, more loss
    assert np.all(uma_path_loss(d[2:], 30.0, 0.8) > rma_path_loss(d[2:], 30.0, 0.8))
    assert (
        rma_path_loss(np.array([2000.0]), 48.0, 0.8)[0]
        < rma_path_loss(np.array([2000.0]), 20.0, 0.8)[0]
    )


def test_sector_pattern():
    bearings = np.array([90.0, 122.5, 270.0, 0.0])
    gain = sector_pattern_db(bearings, 90.0)
    np.testing.assert_allclose(gain, [0.0, -3.0, -30.0, -23.0], atol=0.05)


def test_speed_model():
    lte, nr = TECHNOLOGY_PROFILES["4G"], TECHNOLOGY_PROFILES["5G"]
    rsrp = np.arange(-140.0, -40.0, 1.0)
    for profile in (lte, nr):
        speeds = expected_down_mbit(rsrp, profile)
        assert np.all(np.diff(speeds) >= 0) and speeds[0] == 0.0
        peak = profile.max_efficiency * profile.bandwidth_mhz * profile.mimo_layers * 0.75 * 0.5
        assert speeds[-1] == pytest.approx(peak)
        threshold = rsrp_for_speed(100.0, profile)
        assert expected_down_mbit(np.array([threshold]), profile)[0] == pytest.approx(100.0)
    # 4G at these settings tops out below 600: only 5G reaches the mapping's top class.
    assert rsrp_for_speed(600.0, lte) == math.inf
    assert np.isnan(expected_down_mbit(np.array([np.nan]), lte)[0])


@pytest.fixture(scope="module")
def one_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    layers = model_rasters(
        sites([{"technologies": "4G"}]), REGION, out, 50, profiles=SMALL, coast_buffer_m=0
    )
    return out, layers


def test_rasters_are_valid_cogs(one_site):
    out, layers = one_site
    assert [la.name for la in layers] == ["rsrp_tdc_4g_outdoor", "rsrp_tdc_4g_indoor"]
    for layer in layers:
        with rasterio.open(layer.path) as src:
            assert src.driver == "GTiff"
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
            assert src.overviews(1) == [2]
            assert src.crs.to_epsg() == 25832
            assert src.res == (50.0, 50.0)
            assert src.bounds == (597_000.0, 6_187_000.0, 603_000.0, 6_193_000.0)
            assert src.tags()["OPERATOR"] == "TDC"
    assert [la.to_dict() for la in load_layers(out)] == [la.to_dict() for la in layers]


def test_values_follow_the_path_loss(one_site):
    _, layers = one_site
    outdoor, grid = read_band(layers[0].path)
    indoor, _ = read_band(layers[1].path)
    eirp = TECHNOLOGY_PROFILES["4G"].eirp_re_dbm
    for dx in (0.0, 500.0, 1000.0, 2000.0):
        value = sample(layers[0].path, np.array([SITE[0] + dx]), np.array([SITE[1]]))[0]
        expected = eirp - rma_path_loss(np.array([dx]), 30.0, 0.8)[0]
        assert value == pytest.approx(expected, abs=0.5)  # whole dBm in the file
    # Beyond the 2.5 km radius nothing is computed: the floor.
    assert sample(layers[0].path, np.array([SITE[0] + 2900.0]), np.array([SITE[1]]))[0] == FLOOR_DBM
    assert np.nanmax(outdoor) == outdoor[grid.index(np.array([SITE[0]]), np.array([SITE[1]]))[:2]]
    live = outdoor > FLOOR_DBM + 15
    np.testing.assert_allclose(outdoor[live] - indoor[live], 15.0, atol=1.0)


def test_region_mask_and_best_server(tmp_path):
    region = shapely.box(597_000.0, 6_187_000.0, 600_000.0, 6_193_000.0)  # west half only
    two = sites([{"east": 598_025.0}, {"east": 599_525.0, "power": 41.0}])
    layers = model_rasters(two, region, tmp_path, 50, profiles=SMALL, coast_buffer_m=0)
    values, grid = read_band(layers[0].path)
    assert grid.bounds == (597_000.0, 6_187_000.0, 600_000.0, 6_193_000.0)
    assert not np.isnan(values).any()
    # Halfway between the sites the 10 dB stronger one serves.
    mid = sample(layers[0].path, np.array([598_775.0]), np.array([SITE[1]]))[0]
    strong = 41.0 - rma_path_loss(np.array([750.0]), 30.0, 0.8)[0]
    assert mid == pytest.approx(strong, abs=0.5)


def test_sector_antenna_points_the_signal(tmp_path):
    layers = model_rasters(
        sites([{"azimuth": 90.0}]), REGION, tmp_path, 50, profiles=SMALL, coast_buffer_m=0
    )
    east = sample(layers[0].path, np.array([SITE[0] + 1000.0]), np.array([SITE[1]]))[0]
    west = sample(layers[0].path, np.array([SITE[0] - 1000.0]), np.array([SITE[1]]))[0]
    assert east - west == pytest.approx(30.0, abs=1.0)


def test_clutter_forest_and_town(tmp_path):
    forest = shapely.box(600_500.0, 6_187_000.0, 603_000.0, 6_193_000.0)
    # Town west of the site: a 300 m block covered with 20 m x 20 m houses on a 25 m pitch (64 %).
    xs, ys = np.meshgrid(
        np.arange(598_500.0, 598_800.0, 25.0), np.arange(6_190_000.0, 6_190_300.0, 25.0)
    )
    houses = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 20.0, ys.ravel() + 20.0)
    source = ClutterSource(
        gpd.GeoDataFrame({"clutter": [3]}, geometry=[forest], crs=WORK_CRS),
        gpd.GeoDataFrame(geometry=houses, crs=WORK_CRS),
    )
    plain = model_rasters(sites([{}]), REGION, tmp_path / "a", 50, profiles=SMALL, coast_buffer_m=0)
    cluttered = model_rasters(
        sites([{}]), REGION, tmp_path / "b", 50, source, profiles=SMALL, coast_buffer_m=0
    )
    points = (np.array([SITE[0] + 1000.0, SITE[0] - 1375.0]), np.array([SITE[1]] * 2))
    before = sample(plain[0].path, *points)
    after = sample(cluttered[0].path, *points)
    assert before[0] - after[0] == pytest.approx(6.0, abs=1.0)  # forest loss at 4G
    uma = TECHNOLOGY_PROFILES["4G"].eirp_re_dbm - uma_path_loss(np.array([1350.0]), 30.0, 0.8)[0]
    assert after[1] == pytest.approx(uma, abs=1.5)  # urban macro in the town
    assert after[1] < before[1] - 5


def test_calibration_recovers_an_offset_on_held_out_devices(tmp_path):
    truth = model_rasters(sites([{}]), REGION, tmp_path / "t", 50, profiles=SMALL, coast_buffer_m=0)
    area = shapely.Point(SITE).buffer(2000.0)
    points = uniform_points(area, 5, 3000, devices=120, end=datetime(2026, 5, 1, tzinfo=UTC))
    measured = draw_measurements(points, truth, 5, operators=("TDC",), shadowing_db=6.0)
    assert measured["generated"].all()
    # The same site modelled 6 dB too strong: calibration should take it back.
    layers = model_rasters(
        sites([{"power": TECHNOLOGY_PROFILES["4G"].eirp_re_dbm + 6.0}]),
        REGION, tmp_path / "c", 50, profiles=SMALL, coast_buffer_m=0, measurements=measured,
    )  # fmt: skip
    cal = layers[0].calibration
    assert cal is not None and cal.offset_db == pytest.approx(-6.0, abs=1.0)
    assert cal.devices_holdout >= 2 and cal.samples_holdout > 100
    assert cal.before.bias == pytest.approx(-6.0, abs=1.5)
    assert abs(cal.after.bias) < 1.5
    assert cal.after.rmse < cal.before.rmse
    # The offset is applied to the written layer.
    at = sample(layers[0].path, np.array([SITE[0] + 500.0]), np.array([SITE[1]]))[0]
    was = sample(truth[0].path, np.array([SITE[0] + 500.0]), np.array([SITE[1]]))[0]
    assert at == pytest.approx(was, abs=1.5)


def test_no_mobile_site_is_a_clear_error(tmp_path):
    frame = sites([{"technologies": "4G"}]).assign(mobile=False)
    with pytest.raises(BuildError, match="no mobile site"):
        model_rasters(frame, REGION, tmp_path, 50, profiles=SMALL)


def test_colour_maps():
    rsrp = colour_map("rsrp")
    bands = rsrp.intervals()
    assert all(a[0][1] == b[0][0] for a, b in itertools.pairwise(bands))
    assert rsrp.colour_of(-115.0) == (215, 48, 39, 220)
    assert rsrp.legend()[0]["color"] == "#4575b4"
    assert colour_map("mobile-class").colour_of(650.0)[:3] == (69, 117, 180)
    with pytest.raises(NotFoundError):
        colour_map("viridis")
