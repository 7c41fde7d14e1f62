"""Underserved zones on the DDKN grid, 1 km cell statistics and threshold selections."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.answer import assess_addresses
from coverage.assess import CLASSES
from coverage.errors import InvalidRequestError
from coverage.grid import cell_boxes, cell_indices, cell_names
from coverage.gridstats import GRID_COLUMNS, grid_cell_stats
from coverage.servetables import read_tables
from coverage.types import WORK_CRS
from coverage.zones import (
    ZONE_COLUMNS,
    _empty,
    address_xy,
    parse_speed_threshold,
    threshold_label,
    threshold_mask,
    underserved_zones,
)

# A 100 m cell's lower-left corner on Samsø's stretch of the national grid.
E0, N0 = 600_000.0, 6_190_000.0


def cell(col: int, row: int, dx: float = 50.0, dy: float = 50.0) -> tuple[float, float]:
    """A point inside the cell ``col`` east and ``row`` north of (E0, N0)."""
    return E0 + col * 100 + dx, N0 + row * 100 + dy


def box(col0: int, row0: int, col1: int, row1: int) -> shapely.Polygon:
    """The grid rectangle from cell (col0, row0) to cell (col1, row1), inclusive."""
    return shapely.box(
        E0 + col0 * 100, N0 + row0 * 100, E0 + col1 * 100 + 100, N0 + row1 * 100 + 100
    )


def addresses(points, kode="0741", navn="Samsø", zone=None, generated=None) -> gpd.GeoDataFrame:
    n = len(points)
    codes = [kode] * n if isinstance(kode, str) else list(kode)
    return gpd.GeoDataFrame(
        {
            "id": [f"00000000-0000-0000-0000-{i:012d}" for i in range(n)],
            "kommunekode": pd.array(codes, dtype="string"),
            "kommunenavn": pd.array([navn] * n, dtype="string"),
            "zone": pd.array(zone if zone is not None else [None] * n, dtype="string"),
            "generated": generated if generated is not None else [False] * n,
        },
        geometry=shapely.points(np.array(points, dtype=float)),
        crs="EPSG:25832",
    )


def municipalities(polygons: dict[str, shapely.Geometry] | None = None) -> gpd.GeoDataFrame:
    polygons = polygons or {"0741": shapely.box(E0 - 10_000, N0 - 10_000, E0 + 10_000, N0 + 10_000)}
    names = {"0741": "Samsø", "0727": "Odder"}
    return gpd.GeoDataFrame(
        {"kommunekode": list(polygons), "kommunenavn": [names[k] for k in polygons]},
        geometry=list(polygons.values()),
        crs="EPSG:25832",
    )


def zones_of(points, distance=None, **kwargs) -> gpd.GeoDataFrame:
    frame = kwargs.pop("frame", None)
    frame = frame if frame is not None else addresses(points)
    munis = kwargs.pop("munis", None)
    return underserved_zones(
        frame,
        np.ones(len(frame), dtype=bool),
        munis if munis is not None else municipalities(),
        join_distance=distance,
        label=kwargs.pop("label", "2025"),
        **kwargs,
    )


def test_edge_neighbours_merge_and_separate_clusters_stay_apart():
    # An L of three cells, plus one cell 1 km east: two zones.
    points = [cell(0, 0), cell(1, 0), cell(1, 1), cell(1, 1, 10, 80), cell(10, 0)]
    zones = zones_of(points)
    assert list(zones.columns) == ZONE_COLUMNS
    assert zones.crs.to_epsg() == 25832
    assert zones["zone_id"].tolist() == [
        "0741-100m_61900_6000-2025",
        "0741-100m_61900_6010-2025",
    ]
    assert zones["addresses"].tolist() == [4, 1]
    assert zones["cells"].tolist() == [3, 1]
    assert zones["area_km2"].tolist() == pytest.approx([0.03, 0.01])
    expected_l = shapely.union(box(0, 0, 1, 0), box(1, 1, 1, 1))
    assert shapely.equals(zones.geometry.iloc[0], expected_l)
    assert shapely.equals(zones.geometry.iloc[1], box(10, 0, 10, 0))
    assert set(zones.geom_type) == {"MultiPolygon"}
    assert zones["kommunenavn"].tolist() == ["Samsø", "Samsø"]
    assert zones["label"].tolist() == ["2025", "2025"]


def test_diagonal_cells_are_not_adjacent():
    # Cells (0,0) and (1,1) touch only at a corner: two zones without a distance join.
    points = [cell(0, 0, 99, 99), cell(1, 1, 1, 1)]
    apart = zones_of(points)
    assert len(apart) == 2
    assert apart["cells"].tolist() == [1, 1]
    # The two addresses are 2.8 m apart: a 10 m join makes them one zone of two squares.
    joined = zones_of(points, distance=10)
    assert len(joined) == 1
    geom = joined.geometry.iloc[0]
    assert shapely.get_num_geometries(geom) == 2
    assert shapely.equals(geom, shapely.union(box(0, 0, 0, 0), box(1, 1, 1, 1)))


def test_distance_join_merges_clusters_within_d():
    # Two clusters three cells apart; the closest addresses are 220 m apart.
    points = [cell(0, 0, 90, 50), cell(0, 1), cell(3, 0, 10, 50), cell(4, 0)]
    assert len(zones_of(points, distance=None)) == 2
    assert len(zones_of(points, distance=200)) == 2
    merged = zones_of(points, distance=220)  # exactly D apart counts as within D
    assert len(merged) == 1
    zone = merged.iloc[0]
    assert zone["addresses"] == 4 and zone["cells"] == 4
    expected = shapely.union_all([box(0, 0, 0, 1), box(3, 0, 4, 0)])
    assert shapely.equals(zone.geometry, expected)
    assert zone["zone_id"] == "0741-100m_61900_6000-2025"


def test_zones_are_clipped_to_the_municipality():
    # The coast runs through the middle of cell (0, 0): only its western half is land.
    land = shapely.box(E0 - 5_000, N0 - 5_000, E0 + 50, N0 + 5_000)
    zones = zones_of([cell(0, 0, 20, 50), cell(0, 1, 20, 50)], munis=municipalities({"0741": land}))
    assert len(zones) == 1
    assert shapely.equals(zones.geometry.iloc[0], shapely.box(E0, N0, E0 + 50, N0 + 200))
    assert zones["area_km2"].iloc[0] == pytest.approx(0.01)
    assert zones["cells"].iloc[0] == 2


def test_only_zones_crossing_the_boundary_are_cut():
    # Three zones; only the middle one crosses the coast (regression: numbering of cut zones).
    land = shapely.difference(
        shapely.box(E0 - 5_000, N0 - 5_000, E0 + 5_000, N0 + 5_000),
        shapely.box(E0 + 550, N0 - 5_000, E0 + 600, N0 + 5_000),
    )
    zones = zones_of(
        [cell(0, 0), cell(5, 0, 10, 50), cell(9, 0)], munis=municipalities({"0741": land})
    )
    assert zones["cells"].tolist() == [1, 1, 1]
    assert shapely.equals(zones.geometry.iloc[0], box(0, 0, 0, 0))
    assert shapely.equals(zones.geometry.iloc[1], shapely.box(E0 + 500, N0, E0 + 550, N0 + 100))
    assert shapely.equals(zones.geometry.iloc[2], box(9, 0, 9, 0))


def test_cells_outside_the_generalised_coast_are_kept_whole():
    # An address whose own kommunekode is 0741 but which lies off the 1:500,000 coastline.
    land = shapely.box(E0 - 5_000, N0 - 5_000, E0 + 100, N0 + 5_000)
    zones = zones_of([cell(0, 0), cell(3, 0)], munis=municipalities({"0741": land}))
    assert len(zones) == 2
    assert shapely.equals(zones.geometry.iloc[1], box(3, 0, 3, 0))
    assert zones.geometry.area.min() > 0


def test_zones_never_cross_a_municipality_border():
    # Adjacent cells, but the addresses belong to two municipalities: one zone each.
    points = [cell(0, 0), cell(1, 0)]
    frame = addresses(points, kode=["0727", "0741"])
    munis = municipalities(
        {
            "0727": shapely.box(E0 - 5_000, N0 - 5_000, E0 + 100, N0 + 5_000),
            "0741": shapely.box(E0 + 100, N0 - 5_000, E0 + 5_000, N0 + 5_000),
        }
    )
    zones = zones_of(points, distance=500, frame=frame, munis=munis)
    assert zones["kommunekode"].tolist() == ["0727", "0741"]
    assert zones["kommunenavn"].tolist() == ["Odder", "Samsø"]
    assert shapely.equals(zones.geometry.iloc[0], box(0, 0, 0, 0))
    assert shapely.equals(zones.geometry.iloc[1], box(1, 0, 1, 0))


def test_identical_and_shuffled_input_give_identical_zones():
    rng = np.random.default_rng(7)
    points = np.column_stack(
        [E0 + rng.uniform(0, 3_000, 300), N0 + rng.uniform(0, 3_000, 300)]
    ).tolist()
    frame = addresses(points)
    first = zones_of(points, distance=150, frame=frame, label="fixed<100/30")
    again = zones_of(points, distance=150, frame=frame.copy(), label="fixed<100/30")
    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    reordered = zones_of(points, distance=150, frame=shuffled, label="fixed<100/30")
    assert len(first) > 5 and first["zone_id"].is_unique
    assert first["addresses"].sum() == 300
    assert_geodataframe_equal(first, again)
    assert_geodataframe_equal(first, reordered, check_less_precise=True, normalize=True)
    assert all(z.endswith("-fixed-lt-100-30") for z in first["zone_id"])


def test_only_masked_addresses_count_and_assessment_feeds_the_summary():
    points = [cell(0, 0), cell(0, 0, 10, 10), cell(1, 0), cell(5, 5), cell(1, 1)]
    frame = addresses(
        points,
        zone=["Landzone", None, None, "Byzone", "Landzone"],
        generated=[False, False, True, False, False],
    )
    assessment = pd.DataFrame(
        {
            "address_id": frame["id"],
            "kommunekode": frame["kommunekode"],
            "best_down": [10.0, 50.0, 20.0, 1000.0, np.nan],
            "best_up": [2.0, 10.0, 5.0, 1000.0, np.nan],
            "mobile_down": [40.0, 200.0, 700.0, 900.0, np.nan],
            "zone": frame["zone"],
            "class": ["eligible", "eligible_if_zone", "eligible_blue", "not_eligible", "no_data"],
        }
    )
    mask = np.array([True, True, True, False, False])
    zones = underserved_zones(
        frame, mask, municipalities(), assessment=assessment, join_distance=None, label="2021"
    )
    assert len(zones) == 1
    zone = zones.iloc[0]
    assert zone["addresses"] == 3 and zone["cells"] == 2
    assert (zone["eligible"], zone["eligible_blue"], zone["eligible_if_zone"]) == (1, 1, 1)
    assert zone["unknown_zone"] == 2
    assert zone["min_fixed_down"] == 10.0 and zone["median_fixed_down"] == 20.0
    assert zone["median_mobile_down"] == 200.0 and zone["mobile_below_100"] == 1
    assert bool(zone["generated"]) is True
    # Without an assessment the class counts are unknown, not zero.
    plain = underserved_zones(frame, mask, municipalities(), join_distance=None, label="x")
    assert pd.isna(plain["eligible"].iloc[0]) and np.isnan(plain["min_fixed_down"].iloc[0])
    assert plain["unknown_zone"].iloc[0] == 2


def test_empty_selection_gives_an_empty_layer_with_the_columns():
    frame = addresses([cell(0, 0)])
    zones = underserved_zones(frame, np.array([False]), municipalities(), label="2025")
    assert len(zones) == 0 and list(zones.columns) == ZONE_COLUMNS
    assert zones.crs.to_epsg() == 25832


def test_bad_arguments_are_user_errors():
    frame = addresses([cell(0, 0), cell(1, 0)])
    with pytest.raises(InvalidRequestError, match="1 values for 2 addresses"):
        underserved_zones(frame, np.array([True]), municipalities(), label="x")
    with pytest.raises(InvalidRequestError, match="DDKN cell size"):
        underserved_zones(frame, np.ones(2, bool), municipalities(), cell_size=250, label="x")
    shuffled = pd.DataFrame({"address_id": frame["id"][::-1].to_numpy(), "class": "eligible"})
    with pytest.raises(InvalidRequestError, match="order"):
        underserved_zones(frame, np.ones(2, bool), municipalities(), assessment=shuffled, label="x")


def test_zone_sizes_other_than_100_m():
    zones = zones_of([cell(0, 0), cell(25, 3)], cell_size=1000)
    assert zones["zone_id"].tolist() == ["0741-1km_6190_600-2025", "0741-1km_6190_602-2025"]
    assert zones["area_km2"].tolist() == pytest.approx([1.0, 1.0])
    # Edge neighbours on the 1 km grid merge as on the 100 m grid.
    assert len(zones_of([cell(0, 0), cell(15, 3)], cell_size=1000)) == 1


def _flood_fill_count(cells: set[tuple[int, int]]) -> int:
    """Reference: connected components of cells under edge adjacency, by breadth-first search."""
    seen, count = set(), 0
    for start in cells:
        if start in seen:
            continue
        count += 1
        todo = [start]
        seen.add(start)
        while todo:
            c, r = todo.pop()
            for n in ((c + 1, r), (c - 1, r), (c, r + 1), (c, r - 1)):
                if n in cells and n not in seen:
                    seen.add(n)
                    todo.append(n)
    return count


@settings(max_examples=40, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=60))
def test_zone_count_matches_a_flood_fill(occupied):
    points = [cell(c, r) for c, r in sorted(occupied)]
    zones = zones_of(points)
    assert len(zones) == _flood_fill_count(occupied)
    assert zones["cells"].sum() == len(occupied)
    assert zones.geometry.area.sum() == pytest.approx(len(occupied) * 10_000)


# --------------------------------------------------------------------------------------------------
# thresholds


def _speeds(down, up, mobile) -> pd.DataFrame:
    return pd.DataFrame({"best_down": down, "best_up": up, "mobile_down": mobile})


def test_threshold_texts():
    assert parse_speed_threshold("100/30") == (100.0, 30.0)
    assert parse_speed_threshold(" 100 ") == (100.0, None)
    assert parse_speed_threshold("10,5 / 2") == (10.5, 2.0)
    for bad in ("abc", "100/", "/30", "-5", "0/10", "100/30/5", ""):
        with pytest.raises(InvalidRequestError, match="fixed-below"):
            parse_speed_threshold(bad)
    assert threshold_label("100/30", 600) == "fixed<100/30 mobile<600"
    assert threshold_label("100", None) == "fixed<100"


def test_threshold_mask_down_up_and_mobile():
    speeds = _speeds(
        [50.0, 1000.0, 1000.0, 150.0, np.nan],
        [50.0, 10.0, 1000.0, 150.0, np.nan],
        [100.0, 700.0, 10.0, 500.0, 10.0],
    )
    assert threshold_mask(speeds, "100/30", None).tolist() == [True, True, False, False, False]
    assert threshold_mask(speeds, "100", None).tolist() == [True, False, False, False, False]
    assert threshold_mask(speeds, None, 600).tolist() == [True, False, True, True, True]
    both = threshold_mask(speeds, "100/30", 600)
    assert both.tolist() == [True, False, False, False, False]
    with pytest.raises(InvalidRequestError):
        threshold_mask(speeds, None, None)
    with pytest.raises(InvalidRequestError, match="mobile-below"):
        threshold_mask(speeds, None, -1)


# --------------------------------------------------------------------------------------------------
# 1 km grid statistics


def test_grid_cell_stats_per_1km_cell():
    points = [cell(1, 1), cell(2, 2), cell(3, 3), cell(4, 4), cell(12, 0)]
    frame = addresses(points, kode=["0727", "0741", "0741", "0727", "0727"])
    assessment = pd.DataFrame(
        {
            "best_down": [1000.0, 20.0, np.nan, 100.0, 5.0],
            "class": ["not_eligible", "eligible", "no_data", "not_eligible", "eligible_if_zone"],
            "generated": [False, False, False, False, True],
        }
    )
    grid = grid_cell_stats(frame, assessment)
    assert grid["cell"].tolist() == ["1km_6190_600", "1km_6190_601"]
    first, second = grid.iloc[0], grid.iloc[1]
    assert first["kommunekode"] == "0727"  # a 2-2 tie goes to the lower code
    assert (first["addresses"], first["eligible"], first["no_data"]) == (4, 1, 1)
    assert first["share_100"] == pytest.approx(0.5)  # 1000 and 100 of 4 addresses
    assert first["median_best_down"] == pytest.approx(100.0)
    assert not first["generated"] and second["generated"]
    assert (second["eligible_if_zone"], second["share_100"]) == (1, 0.0)
    assert shapely.equals(grid.geometry.iloc[0], shapely.box(E0, N0, E0 + 1000, N0 + 1000))
    assert grid.crs.to_epsg() == 25832


# --------------------------------------------------------------------------------------------------
# grid statistics against the pandas implementation they replaced


def reference_grid_cell_stats(
    addresses: gpd.GeoDataFrame, assessment: pd.DataFrame, size: int = 1000
) -> gpd.GeoDataFrame:
    """The grid statistics as computed before the memory cut (Python strings, two groupbys)."""
    if isinstance(addresses, gpd.GeoDataFrame) and addresses.crs != WORK_CRS:
        addresses = addresses.to_crs(WORK_CRS)
    x, y = address_xy(addresses)
    idx = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(idx) == 0:
        return _empty(GRID_COLUMNS)
    rows, cols = cell_indices(x[idx], y[idx], size)
    down = assessment["best_down"].to_numpy("float64", na_value=np.nan)[idx]
    klass = assessment["class"].astype("string").to_numpy(dtype=object, na_value="")[idx]
    generated = addresses["generated"].fillna(False).to_numpy(dtype=bool)[idx]
    if "generated" in assessment.columns:
        generated |= assessment["generated"].fillna(False).to_numpy(dtype=bool)[idx]
    per = pd.DataFrame(
        {
            "row": rows,
            "col": cols,
            "kommunekode": addresses["kommunekode"].astype("string").to_numpy(dtype=object)[idx],
            "eligible": klass == "eligible",
            "eligible_if_zone": klass == "eligible_if_zone",
            "no_data": np.isnan(down),
            "served": down >= 100,
            "down": down,
            "generated": generated,
        }
    )
    stats = (
        per.groupby(["row", "col"], sort=True)
        .agg(
            addresses=("down", "size"),
            eligible=("eligible", "sum"),
            eligible_if_zone=("eligible_if_zone", "sum"),
            no_data=("no_data", "sum"),
            served=("served", "sum"),
            median_best_down=("down", "median"),
            generated=("generated", "any"),
        )
        .reset_index()
    )
    majority = (
        per.groupby(["row", "col", "kommunekode"], sort=False)
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["row", "col", "n", "kommunekode"], ascending=[True, True, False, True])
        .drop_duplicates(["row", "col"])
    )
    stats = stats.merge(majority[["row", "col", "kommunekode"]], on=["row", "col"], how="left")
    stats["share_100"] = stats.pop("served") / stats["addresses"]
    r, c = stats.pop("row").to_numpy("int64"), stats.pop("col").to_numpy("int64")
    stats["cell"] = pd.array(cell_names(c * float(size), r * float(size), size), dtype="string")
    return gpd.GeoDataFrame(stats, geometry=cell_boxes(r, c, size), crs=WORK_CRS)[GRID_COLUMNS]


def assert_same_grid(addresses: pd.DataFrame, assessment: pd.DataFrame, size: int) -> None:
    """grid_cell_stats gives exactly what the reference gives: values (floats bit for bit),
    dtypes, order, index, CRS and cell polygons."""
    new = grid_cell_stats(addresses, assessment, size)
    ref = reference_grid_cell_stats(addresses, assessment, size)
    assert list(new.columns) == list(ref.columns) == GRID_COLUMNS
    assert new.dtypes.to_dict() == ref.dtypes.to_dict()
    pd.testing.assert_frame_equal(
        pd.DataFrame(new.drop(columns="geometry")),
        pd.DataFrame(ref.drop(columns="geometry")),
        check_exact=True,
    )
    assert_geodataframe_equal(new, ref)
    assert shapely.equals_exact(
        np.asarray(new.geometry.array), np.asarray(ref.geometry.array), tolerance=0
    ).all()


def service_shaped(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Addresses as the service holds them: east / north, no geometry, few-valued texts as
    categories."""
    plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    plain["east"], plain["north"] = address_xy(frame)
    for column in ("kommunekode", "kommunenavn", "zone"):
        plain[column] = plain[column].astype("category")
    return plain


@pytest.mark.parametrize("size", [100, 1000, 10000])
def test_grid_cell_stats_equal_the_reference_on_the_bundle(bundle_release, size):
    # As the service holds the release (categorical texts, east / north, shared assessment columns)
    # and as exports read it (GeoDataFrame, plain strings), under every rule set.
    served, availability = read_tables(bundle_release)
    assessments = assess_addresses(served, availability)
    assert isinstance(served["kommunekode"].dtype, pd.CategoricalDtype)
    assert len(served) > 4_000 and len(assessments) > 1
    for assessment in assessments.values():
        assert_same_grid(served, assessment, size)
    geo = bundle_release.read("addresses")
    assert isinstance(geo, gpd.GeoDataFrame)
    assert not isinstance(geo["kommunekode"].dtype, pd.CategoricalDtype)
    assessment = assessments[next(iter(assessments))]
    plain_class = assessment.assign(**{"class": assessment["class"].astype("str")})
    assert_same_grid(geo, plain_class, size)
    assert grid_cell_stats(geo, plain_class, size)["addresses"].sum() == len(geo)


def test_grid_cell_stats_edge_cases_equal_the_reference():
    # Cell (0, 0) of 1 km: a 2-2 tie between 0741 and 0727 whose categories are not in text order,
    # an address without a code, an even number of speeds. Cell (1, 0): every speed missing and no
    # code at all. Cell (2, 1): one address, class missing. Two addresses have no position.
    points = [cell(1, 1), cell(2, 2), cell(3, 3), cell(4, 4), cell(5, 5)]
    points += [cell(12, 0), cell(13, 0), cell(25, 11), (np.nan, np.nan), (np.nan, N0)]
    kode = ["0741", "0741", "0727", "0727", None, None, None, "0706", "0706", "0727"]
    frame = addresses(points, kode=kode, generated=[False] * 9 + [True])
    assessment = pd.DataFrame(
        {
            "address_id": frame["id"],
            "best_down": np.array([5, 1000, 100, 30, np.nan, np.nan, np.nan, 7, 1, 2], "float32"),
            "class": pd.Categorical(
                ["eligible", "eligible_if_zone", None, "eligible", "not_eligible"] + [None] * 5,
                categories=CLASSES,
            ),
            "generated": [False, True] + [False] * 8,
        }
    )
    text_order = ["0706", "0727", "0741"]
    plain = service_shaped(frame)
    plain["kommunekode"] = pd.Categorical(kode, categories=text_order[::-1])
    for size in (100, 1000, 10000):
        assert_same_grid(frame, assessment, size)
        assert_same_grid(plain, assessment, size)
    grid = grid_cell_stats(plain, assessment, 1000)
    # The tie goes to the lower code, not to the first category; no code at all gives none.
    assert grid["kommunekode"].iloc[[0, 2]].tolist() == ["0727", "0706"]
    assert pd.isna(grid["kommunekode"].iloc[1])
    assert grid["addresses"].tolist() == [5, 2, 1]
    assert grid["median_best_down"].iloc[0] == 65.0  # 5, 30, 100, 1000 (one without data)
    assert np.isnan(grid["median_best_down"].iloc[1])
    assert (grid["eligible"].tolist(), grid["eligible_if_zone"].tolist()) == ([2, 0, 0], [1, 0, 0])
    # Plain strings, missing classes as NA, speeds as nullable floats, no generated column.
    bare = assessment.assign(
        **{
            "class": assessment["class"].astype("string"),
            "best_down": pd.array(
                assessment["best_down"].to_numpy("float64", na_value=np.nan), dtype="Float64"
            ),
        }
    ).drop(columns="generated")
    assert_same_grid(frame, bare, 1000)
    # Object columns, a missing class and none eligible, the addresses in lon/lat.
    objects = frame.to_crs("EPSG:4326").assign(kommunekode=np.array(kode, dtype=object))
    only_blue = assessment.assign(**{"class": np.array([None] + ["eligible_blue"] * 9, object)})
    assert_same_grid(objects, only_blue, 1000)
    # No code anywhere.
    assert_same_grid(frame.assign(kommunekode=pd.array([None] * 10, dtype="string")), bare, 1000)


TEXT_DTYPES = ["category", "category-reversed", "string", "str", "object"]


def as_text(values: list[str | None], dtype: str) -> object:
    """Texts as one of the column kinds callers pass (categories in reverse text order too)."""
    if dtype.startswith("category"):
        present = sorted({v for v in values if v is not None})
        return pd.Categorical(values, categories=present[::-1] if "reversed" in dtype else present)
    return np.array(values, dtype=object) if dtype == "object" else pd.array(values, dtype=dtype)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.tuples(st.integers(0, 2_999), st.integers(0, 2_999))),
            st.sampled_from(["0741", "0727", "0706", None]),
            st.sampled_from([*CLASSES, None]),
            st.sampled_from([np.nan, 0.0, 5.0, 99.9, 100.0, 250.5, 1000.0]),
            st.booleans(),
        ),
        max_size=40,
    ),
    size=st.sampled_from([100, 1000, 10000]),
    kode_dtype=st.sampled_from(TEXT_DTYPES),
    class_dtype=st.sampled_from(TEXT_DTYPES),
    geo=st.booleans(),
)
def test_grid_cell_stats_equal_the_reference_on_random_input(
    rows, size, kode_dtype, class_dtype, geo
):
    points = [(E0 + p[0], N0 + p[1]) if p else (np.nan, np.nan) for p, *_ in rows]
    frame = addresses(points or np.empty((0, 2)), kode=[r[1] for r in rows])
    frame["kommunekode"] = as_text([r[1] for r in rows], kode_dtype)
    assessment = pd.DataFrame(
        {
            "best_down": np.array([r[3] for r in rows], dtype="float32"),
            "class": as_text([r[2] for r in rows], class_dtype),
            "generated": np.array([r[4] for r in rows], dtype=bool),
        }
    )
    assert_same_grid(frame if geo else service_shaped(frame), assessment, size)


def test_grid_cell_stats_check_the_assessment_order_without_copying_ids():
    frame = addresses([cell(0, 0), cell(1, 0), cell(2, 0)])
    ids = frame["id"].astype("str")
    assessment = pd.DataFrame({"address_id": ids, "best_down": 1.0, "class": "eligible"})
    assert grid_cell_stats(frame, assessment)["addresses"].tolist() == [3]
    # A missing id stands for an empty one, as before; any other difference is refused.
    blank = frame.assign(id=pd.array(["", *ids[1:]], dtype="string"))
    missing = assessment.assign(address_id=pd.array([None, *ids[1:]], dtype="string"))
    assert grid_cell_stats(blank, missing)["addresses"].tolist() == [3]
    with pytest.raises(InvalidRequestError, match="not in the addresses' order"):
        grid_cell_stats(frame, missing)
    swapped = assessment.assign(address_id=ids.iloc[[1, 0, 2]].to_numpy())
    with pytest.raises(InvalidRequestError, match="not in the addresses' order"):
        grid_cell_stats(frame, swapped)
    with pytest.raises(InvalidRequestError, match="2 rows for 3 addresses"):
        grid_cell_stats(frame, assessment.iloc[:2])
    with pytest.raises(InvalidRequestError, match="DDKN cell size"):
        grid_cell_stats(frame, assessment, 250)
    empty = grid_cell_stats(frame.iloc[:0], assessment.iloc[:0])
    assert len(empty) == 0 and list(empty.columns) == GRID_COLUMNS
