"""Mobile gap zones from crafted rasters and cells: polygons, merging, clipping, counts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.errors import InvalidRequestError
from coverage.mobile.aggregate import aggregate
from coverage.mobile.gaps import EVERY_OPERATOR, gap_zones
from coverage.mobile.model import RasterLayer
from coverage.mobile.raster import RasterGrid, write_cog
from coverage.types import WORK_CRS

# A 2 km square of 50 m pixels; two municipalities split it at x = 601 000.
GRID = RasterGrid(600_000.0, 6_192_000.0, 40, 40, 50.0)
WEST = shapely.box(600_000.0, 6_190_000.0, 601_000.0, 6_192_000.0)
EAST = shapely.box(601_000.0, 6_190_000.0, 602_000.0, 6_192_000.0)


def box_of(r0, r1, c0, c1):
    """The pixels rows r0..r1-1, columns c0..c1-1 as a polygon."""
    return shapely.box(
        GRID.left + c0 * 50, GRID.top - r1 * 50, GRID.left + c1 * 50, GRID.top - r0 * 50
    )


@pytest.fixture
def layers(tmp_path):
    out = []
    for operator, (c0, c1), generated in (("TDC", (15, 25), False), ("Telia", (20, 30), True)):
        values = np.full(GRID.shape, -90.0)
        values[0:10, c0:c1] = -120.0  # a 10 × 10 pixel gap, 0.25 km²
        values[39, 39] = np.nan  # no data is never a gap
        path = write_cog(tmp_path / f"{operator}.tif", values, GRID, tags={})
        out.append(RasterLayer(f"rsrp_{operator}", path, operator, "4G", "outdoor",
                               generated=generated))  # fmt: skip
    return out


@pytest.fixture
def municipalities():
    return gpd.GeoDataFrame(
        {"kommunekode": ["0001", "0002"], "kommunenavn": ["Vest", "Øst"]},
        geometry=[WEST, EAST],
        crs=WORK_CRS,
    )


def test_model_zones_per_operator_and_every_operator(layers, municipalities):
    addresses = gpd.GeoDataFrame(
        geometry=shapely.points(
            [(600_800.0, 6_191_900.0), (601_100.0, 6_191_900.0), (601_200.0, 6_191_900.0),
             (601_400.0, 6_191_900.0), (600_100.0, 6_190_100.0)]
        ),
        crs=WORK_CRS,
    )  # fmt: skip
    zones = gap_zones(layers, municipalities, -110.0, addresses=addresses)
    got = {(r.operator, r.kommunekode): r for r in zones.itertuples()}
    assert set(got) == {
        ("TDC", "0001"), ("TDC", "0002"), ("Telia", "0002"),
        (EVERY_OPERATOR, "0002"),
    }  # fmt: skip
    # TDC's block straddles the border: two halves of 0.125 km².
    assert got[("TDC", "0001")].geometry.equals(box_of(0, 10, 15, 20))
    assert got[("TDC", "0002")].geometry.equals(box_of(0, 10, 20, 25))
    assert got[("TDC", "0001")].area_km2 == pytest.approx(0.125)
    assert got[("Telia", "0002")].area_km2 == pytest.approx(0.25)
    # Every operator: only where both fall short (columns 20-24).
    assert got[(EVERY_OPERATOR, "0002")].geometry.equals(box_of(0, 10, 20, 25))
    assert got[("TDC", "0001")].addresses == 1
    assert got[("Telia", "0002")].addresses == 3
    assert got[(EVERY_OPERATOR, "0002")].addresses == 2
    assert set(zones["basis"]) == {"model"}
    assert got[("Telia", "0002")].generated and not got[("TDC", "0002")].generated
    assert got[(EVERY_OPERATOR, "0002")].generated
    assert zones.crs.to_epsg() == 25832
    assert "outdoor RSRP below -110 dBm" in got[("TDC", "0001")].criterion


def test_adjacent_pixels_merge_into_one_polygon(layers, municipalities):
    zones = gap_zones(layers[:1], municipalities, -110.0)
    for geom in zones.geometry:
        assert len(shapely.get_parts(geom)) == 1


def test_threshold_moves_the_zones(layers, municipalities):
    assert gap_zones(layers, municipalities, -125.0).empty
    everything = gap_zones(layers, municipalities, -80.0)
    every = everything[everything["operator"] == EVERY_OPERATOR]
    # All but the no-data pixel: 4 km² less 50 m × 50 m.
    assert every["area_km2"].sum() == pytest.approx(4.0 - 0.0025)


def test_measured_zones_from_cells(municipalities):
    rows = []
    for east, down, operator in ((600_050.0, 10.0, "TDC"), (600_150.0, 80.0, "TDC"),
                                 (600_150.0, 20.0, "Telia")):  # fmt: skip
        for i in range(5):
            rows.append((east, 6_190_050.0, operator, f"d{i}", down))
    m = pd.DataFrame(rows, columns=["east", "north", "operator", "device", "down"])
    m = m.assign(technology="4G", up=np.nan, rsrp=-100.0, time=pd.Timestamp("2026-01-01", tz="UTC"))
    zones = gap_zones([], municipalities, aggregates=aggregate(m, 100), threshold_down=30.0)
    got = {r.operator: r for r in zones.itertuples()}
    assert got["TDC"].geometry.equals(shapely.box(600_000, 6_190_000, 600_100, 6_190_100))
    # Telia's low cell is covered by TDC's 80 Mbit/s: not a gap for every operator there.
    assert got["Telia"].geometry.equals(shapely.box(600_100, 6_190_000, 600_200, 6_190_100))
    assert got[EVERY_OPERATOR].geometry.equals(got["TDC"].geometry)
    assert set(zones["basis"]) == {"measured"} and (zones["addresses"] == -1).all()


def test_nothing_to_work_on(municipalities):
    with pytest.raises(InvalidRequestError, match="nothing to find gaps in"):
        gap_zones([], municipalities)
