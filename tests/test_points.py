"""Coverage at coordinates: crafted borders and coasts, Samsø's real addresses, geopandas as truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import coverage.cli.points  # noqa: F401  (registers ``netkort points`` on the shared app)
from coverage.answer import assess_addresses
from coverage.assess import assess_many
from coverage.cli.common import app as cli_app
from coverage.errors import InvalidRequestError, SourceError
from coverage.gridstats import grid_cell_stats
from coverage.pointraster import CellSet, Starts, cell_medians, cell_sums, gather
from coverage.points import MAX_DISTANCE, POINT_COLUMNS, PointIndex, work_coordinates
from coverage.rules import resolve_rule_sets
from coverage.servetables import read_tables
from coverage.stats import read_release_tables
from coverage.types import WORK_CRS
from service.main import create_app
from service.routes.points import MAX_POINTS
from service.settings import ServiceSettings

E0, N0 = 600_000.0, 6_190_000.0
RULES = "2024-2025"


def municipalities() -> gpd.GeoDataFrame:
    """Two municipalities sharing a diagonal border, a sub-cell island and two overlapping ones."""
    a = shapely.Polygon([(0, 0), (1037, 0), (963, 1000), (0, 1000)])
    b = shapely.Polygon([(1037, 0), (2000, 0), (2000, 1000), (963, 1000)])
    island = shapely.Polygon([(3020, 20), (3060, 20), (3040, 60)])
    c, d = shapely.box(0, 2000, 1000, 3000), shapely.box(500, 2000, 1500, 3000)
    geoms = [shapely.affinity.translate(g, E0, N0) for g in (a, b, island, c, d)]
    return gpd.GeoDataFrame(
        {
            "kommunekode": ["0001", "0002", "0003", "0004", "0005"],
            "kommunenavn": ["Aby", "Bby", "Ø", "Cby", "Dby"],
        },
        geometry=geoms,
        crs=WORK_CRS,
    )


# (east, north, kommunekode, class, best_down), relative to (E0, N0)
ADDRESSES = [
    (250, 250, "0001", "eligible", 30.0),
    (260, 250, "0001", "not_eligible", 1000.0),
    (270, 280, "0001", "no_data", np.nan),
    (280, 290, "0001", "eligible_if_zone", 50.0),
    (1510, 500, "0002", "not_eligible", 1000.0),  # equidistant pair: release order decides
    (1490, 500, "0002", "not_eligible", 500.0),
    (2030, 500, "0002", "eligible", 10.0),  # just off the generalised coast
]


@pytest.fixture(scope="module")
def crafted() -> PointIndex:
    rows = pd.DataFrame(ADDRESSES, columns=["east", "north", "kommunekode", "class", "best_down"])
    addresses = pd.DataFrame(
        {
            "id": [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(rows))],
            "kommunekode": pd.array(rows["kommunekode"], dtype="string"),
            "east": rows["east"] + E0,
            "north": rows["north"] + N0,
            "generated": [False] * 6 + [True],
        }
    )
    assessment = rows[["class", "best_down"]].astype({"class": "category"})
    return PointIndex.from_tables(addresses, municipalities(), {RULES: assessment})


def ask(index: PointIndex, *xy: tuple[float, float], **kwargs) -> pd.DataFrame:
    x, y = np.array(xy, dtype=float).T
    return index.query(x + E0, y + N0, **kwargs)


def test_columns_cell_names_and_summary(crafted):
    answer = ask(crafted, (255, 255), (5, 5))
    assert list(answer.columns) == POINT_COLUMNS
    first = answer.iloc[0]
    assert first["ddkn_m100"] == "100m_61902_6002"
    assert (first["kommunekode"], first["kommunenavn"]) == ("0001", "Aby")
    assert first["cell_addresses"] == 4
    assert first["cell_median_down"] == 50.0  # median of the known 30, 50, 1000
    assert first["cell_share_100"] == 0.25  # of all four, the one without data counts as not served
    assert (first["cell_eligible"], first["cell_eligible_if_zone"]) == (1, 1)
    assert first["nearest_id"].endswith("0") and first["nearest_class"] == "eligible"
    assert first["nearest_distance_m"] == pytest.approx(np.hypot(5, 5))
    empty = answer.iloc[1]
    assert empty["cell_addresses"] == 0 and pd.isna(empty["cell_median_down"])
    assert pd.isna(empty["nearest_id"]) and pd.isna(empty["nearest_class"])
    assert answer["rule_set"].tolist() == [RULES, RULES]


def test_diagonal_border_is_exact_on_both_sides(crafted):
    # The border runs from (1037, 0) to (963, 1000): at north 500 it is at east 1000.
    answer = ask(crafted, (999.9, 500), (1000.1, 500), (1000, 500), (1036, 10), (1038, 10))
    assert answer["kommunekode"].tolist() == ["0001", "0002", "0001", "0001", "0002"]
    assert (answer["kommune_source"] == "polygon").all()


def test_overlap_goes_to_the_lower_code_and_island_smaller_than_a_cell_is_found(crafted):
    answer = ask(crafted, (700, 2500), (1200, 2500), (3040, 30), (3090, 90))
    assert answer["kommunekode"].tolist()[:3] == ["0004", "0005", "0003"]
    assert pd.isna(answer["kommunekode"].iloc[3])  # same cell as the island, not in it


def test_coast_falls_back_to_the_nearest_address(crafted):
    answer = ask(crafted, (2030, 500), (2040, 500), (2300, 500))
    assert answer["kommunekode"].tolist()[:2] == ["0002", "0002"]
    assert answer["kommune_source"].tolist()[:2] == ["nearest_address", "nearest_address"]
    assert answer["generated"].tolist() == [True, True, False]
    assert answer["kommunekode"].isna().iloc[2] and answer["kommune_source"].isna().iloc[2]


def test_nearest_ties_go_to_release_order_and_distance_is_bounded(crafted):
    tie = ask(crafted, (1500, 500)).iloc[0]
    assert tie["nearest_id"].endswith("4") and tie["nearest_distance_m"] == pytest.approx(10)
    far = ask(crafted, (1500, 540), max_distance=40).iloc[0]
    assert pd.isna(far["nearest_id"])
    reach = ask(crafted, (1500, 540), max_distance=250).iloc[0]
    assert reach["nearest_distance_m"] == pytest.approx(np.hypot(10, 40))
    exact = ask(crafted, (250, 250), (251, 250), max_distance=0)
    assert exact["nearest_distance_m"].tolist()[0] == 0 and exact["nearest_id"].isna().iloc[1]


def test_an_index_without_addresses_answers_municipality_only():
    # A release whose register rows were all quarantined still answers: no cell, no nearest.
    addresses = pd.DataFrame(
        {
            "id": pd.Series([], dtype="string"),
            "kommunekode": pd.Series([], dtype="string"),
            "east": pd.Series([], dtype=float),
            "north": pd.Series([], dtype=float),
        }
    )
    assessment = pd.DataFrame(
        {"class": pd.Categorical([]), "best_down": pd.Series([], dtype=float)}
    )
    index = PointIndex.from_tables(addresses, municipalities(), {RULES: assessment})
    answer = ask(index, (255, 255), (1500, 500), (9000, 9000))
    assert answer["kommunekode"].tolist()[:2] == ["0001", "0002"]
    assert pd.isna(answer["kommunekode"].iloc[2])
    assert (answer["cell_addresses"] == 0).all() and (answer["cell_eligible"] == 0).all()
    assert answer["cell_median_down"].isna().all() and answer["nearest_id"].isna().all()
    assert answer["nearest_class"].isna().all()


def test_bad_questions_are_refused_and_nan_points_get_no_answer(crafted):
    with pytest.raises(InvalidRequestError, match="0 to 500"):
        ask(crafted, (0, 0), max_distance=501)
    with pytest.raises(InvalidRequestError, match="not indexed"):
        ask(crafted, (0, 0), rules="2016")
    nan = crafted.query(np.array([np.nan]), np.array([N0]))
    assert nan[["kommunekode", "ddkn_m100", "nearest_id"]].isna().all(axis=None)


def test_random_points_equal_geopandas_sjoin_on_crafted_borders(crafted):
    rng = np.random.default_rng(7)
    x = rng.uniform(-300, 3300, 60_000) + E0
    y = rng.uniform(-300, 3300, 60_000) + N0
    # And points exactly on the diagonal border and on the overlap's edges.
    t = rng.uniform(0, 1, 500)
    x = np.concatenate([x, E0 + 1037 - 74 * t, np.full(500, E0 + 500)])
    y = np.concatenate([y, N0 + 1000 * t, N0 + 2000 + 1000 * t])
    ours = crafted.query(x, y, max_distance=0)
    assert_same_municipality(ours, x, y, municipalities())


def assert_same_municipality(ours: pd.DataFrame, x, y, munis: gpd.GeoDataFrame) -> None:
    """Where the answer comes from a polygon, it is geopandas.sjoin's (lowest code on ties)."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=WORK_CRS)
    joined = gpd.sjoin(points, munis[["kommunekode", "geometry"]], predicate="intersects")
    truth = joined.sort_values("kommunekode").groupby(level=0)["kommunekode"].first()
    truth = truth.reindex(range(len(x))).astype(object)
    from_polygon = ours["kommunekode"].astype(object).where(ours["kommune_source"] == "polygon")
    assert (from_polygon.fillna("-").to_numpy() == truth.fillna("-").to_numpy()).all()


@pytest.fixture(scope="module")
def samsoe(bundle_release):
    tables = read_release_tables(
        bundle_release, geometry=True, address_columns=["east", "north", "ddkn_m100"]
    )
    assessments = assess_many(tables.addresses, tables.availability, resolve_rule_sets(None))
    munis = bundle_release.read("municipalities")
    return tables, assessments, munis, PointIndex.from_tables(tables.addresses, munis, assessments)


def test_samsoe_addresses_answer_for_their_own_municipality_and_cell(samsoe):
    tables, _, _, index = samsoe
    a = tables.addresses
    answer = index.query(a["east"].to_numpy(), a["north"].to_numpy())
    assert len(answer) == 4591
    assert (answer["kommunekode"] == "0741").all() and (answer["kommunenavn"] == "Samsø").all()
    # 3 addresses lie just off the 1:500,000 coastline: their own code answers for them.
    assert (answer["kommune_source"] == "nearest_address").sum() == 3
    assert (answer["ddkn_m100"].to_numpy() == a["ddkn_m100"].to_numpy()).all()
    assert (answer["nearest_distance_m"] == 0).all()
    unique = ~a.duplicated(["east", "north"], keep="first").to_numpy()
    assert (answer["nearest_id"].to_numpy()[unique] == a["id"].to_numpy()[unique]).all()
    assert answer["rule_set"].iloc[0] == RULES and not answer["generated"].any()


def test_samsoe_cells_equal_grid_cell_stats(samsoe):
    tables, assessments, _, index = samsoe
    for rid in (RULES, "2016-2020"):
        grid = grid_cell_stats(tables.addresses, assessments[rid], size=100)
        centre = grid.geometry.centroid
        answer = index.query(centre.x.to_numpy(), centre.y.to_numpy(), rules=rid)
        assert (answer["ddkn_m100"].to_numpy() == grid["cell"].to_numpy()).all()
        assert (answer["cell_addresses"].to_numpy() == grid["addresses"].to_numpy()).all()
        for ours, theirs in [
            ("cell_eligible", "eligible"),
            ("cell_eligible_if_zone", "eligible_if_zone"),
        ]:
            assert (answer[ours].to_numpy() == grid[theirs].to_numpy()).all()
        np.testing.assert_allclose(answer["cell_share_100"], grid["share_100"], rtol=1e-6)
        np.testing.assert_allclose(
            answer["cell_median_down"], grid["median_best_down"], rtol=1e-6, equal_nan=True
        )


def test_random_points_over_samsoe_equal_sjoin_and_strtree(samsoe):
    tables, _, munis, index = samsoe
    rng = np.random.default_rng(1082)
    xmin, ymin, xmax, ymax = munis.loc[munis["kommunekode"] == "0741"].total_bounds
    x = rng.uniform(xmin - 2000, xmax + 2000, 100_000)
    y = rng.uniform(ymin - 2000, ymax + 2000, 100_000)
    answer = index.query(x, y, max_distance=120)
    assert_same_municipality(answer, x, y, munis)
    tree = shapely.STRtree(tables.addresses.geometry.array)
    (i, _), d = tree.query_nearest(
        shapely.points(x, y), max_distance=120, return_distance=True, all_matches=False
    )
    expected = np.full(len(x), np.nan)
    expected[i] = d
    np.testing.assert_allclose(answer["nearest_distance_m"], expected, equal_nan=True)
    assert answer["nearest_id"].notna().sum() > 1000  # the sample does reach addresses


# --- every column against a plain reference, on the real bundle ---------------------------------


def reference_answer(
    addresses: pd.DataFrame,
    assessment: pd.DataFrame,
    munis: gpd.GeoDataFrame,
    x: np.ndarray,
    y: np.ndarray,
    max_distance: float,
) -> pd.DataFrame:
    """The answer the slow, obvious way: geopandas.sjoin, pandas groupby per cell, every address
    pair within reach from an STRtree (distance taken as the index takes it, ties to the first
    address in release order)."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=WORK_CRS)
    joined = gpd.sjoin(points, munis[["kommunekode", "geometry"]], predicate="intersects")
    code = joined.sort_values("kommunekode").groupby(level=0)["kommunekode"].first()
    code = code.reindex(range(len(x))).to_numpy(dtype=object, copy=True)
    source = np.where(pd.isna(code), None, "polygon").astype(object)

    ax, ay = addresses["east"].to_numpy(float), addresses["north"].to_numpy(float)
    tree = shapely.STRtree(shapely.points(ax, ay))
    pid, aid = tree.query(shapely.points(x, y), predicate="dwithin", distance=max_distance)
    d2 = (ax[aid] - x[pid]) ** 2 + (ay[aid] - y[pid]) ** 2
    keep = d2 <= max_distance**2
    pid, aid, d2 = pid[keep], aid[keep], d2[keep]
    order = np.lexsort((aid, d2, pid))  # per point: nearest first, then release order
    pid, aid, d2 = pid[order], aid[order], d2[order]
    first = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]]) if len(pid) else pid
    nearest = np.full(len(x), -1)
    nearest[pid[first]] = aid[first]
    distance = np.full(len(x), np.nan)
    distance[pid[first]] = np.sqrt(d2[first])
    has = nearest >= 0
    own = addresses["kommunekode"].astype(object).to_numpy()
    coast = pd.isna(code) & has
    code[coast] = own[nearest[coast]]
    source[coast & pd.notna(code)] = "nearest_address"
    names = dict(zip(munis["kommunekode"], munis["kommunenavn"], strict=True))

    klass = assessment["class"].astype(object).to_numpy()
    down = assessment["best_down"].to_numpy(float)
    generated = addresses["generated"].to_numpy(bool)
    per_address = pd.DataFrame(
        {
            "row": np.floor_divide(ay, 100).astype(int),
            "col": np.floor_divide(ax, 100).astype(int),
            "down": down,
            "served": down >= 100,
            "eligible": klass == "eligible",
            "if_zone": klass == "eligible_if_zone",
            "generated": generated,
        }
    )
    cells = per_address.groupby(["row", "col"]).agg(
        addresses=("down", "size"),
        median=("down", "median"),
        served=("served", "sum"),
        eligible=("eligible", "sum"),
        if_zone=("if_zone", "sum"),
        generated=("generated", "any"),
    )
    rows, cols = np.floor_divide(y, 100).astype(int), np.floor_divide(x, 100).astype(int)
    at = cells.reindex(pd.MultiIndex.from_arrays([rows, cols]))
    count = at["addresses"].fillna(0).to_numpy().astype(np.int32)
    return pd.DataFrame(
        {
            "kommunekode": code,
            "kommunenavn": [names.get(c) if c is not None else None for c in code],
            "kommune_source": source,
            "ddkn_m100": [f"100m_{r}_{c}" for r, c in zip(rows, cols, strict=True)],
            "cell_addresses": count,
            # The index keeps cell summaries as float32.
            "cell_median_down": at["median"].to_numpy(float).astype(np.float32).astype(float),
            "cell_share_100": (at["served"].to_numpy(float) / count)
            .astype(np.float32)
            .astype(float),
            "cell_eligible": at["eligible"].fillna(0).to_numpy().astype(np.int32),
            "cell_eligible_if_zone": at["if_zone"].fillna(0).to_numpy().astype(np.int32),
            "nearest_id": np.where(has, addresses["id"].to_numpy(object)[nearest], None),
            "nearest_distance_m": distance,
            "nearest_class": np.where(has, klass[nearest], None),
            "generated": at["generated"].fillna(False).to_numpy(bool)
            | np.where(has, generated[nearest], False),
        }
    )


def assert_same_answer(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every column equal: texts as texts (None for missing), numbers exactly."""
    for column in expected:
        got = ours[column]
        if got.dtype.kind in "fiub":
            want = expected[column].to_numpy(got.dtype)
            np.testing.assert_array_equal(got.to_numpy(), want, err_msg=column)
        else:
            got = got.astype(object).where(got.notna(), None).tolist()
            want = expected[column].astype(object).where(expected[column].notna(), None)
            assert got == want.tolist(), column


def bundle_points(addresses: pd.DataFrame, munis: gpd.GeoDataFrame) -> tuple[np.ndarray, ...]:
    """Random points over Samsø and over the whole region, every address's position (exactly
    and a few cm off) and the corners of the address cells (points on cell edges)."""
    rng = np.random.default_rng(4)
    xmin, ymin, xmax, ymax = munis.loc[munis["kommunekode"] == "0741"].total_bounds
    rx, ry = (
        rng.uniform(xmin - 1500, xmax + 1500, 40_000),
        rng.uniform(ymin - 1500, ymax + 1500, 40_000),
    )
    bx0, by0, bx1, by1 = munis.total_bounds
    wx, wy = (
        rng.uniform(bx0 - 3000, bx1 + 3000, 30_000),
        rng.uniform(by0 - 3000, by1 + 3000, 30_000),
    )
    ax, ay = addresses["east"].to_numpy(float), addresses["north"].to_numpy(float)
    jx, jy = ax + rng.uniform(-0.05, 0.05, len(ax)), ay + rng.uniform(-0.05, 0.05, len(ay))
    cx, cy = np.floor_divide(ax, 100) * 100, np.floor_divide(ay, 100) * 100
    return np.concatenate([rx, wx, ax, jx, cx]), np.concatenate([ry, wy, ay, jy, cy])


@pytest.fixture(scope="module")
def service_index(bundle_release):
    """The index as the service builds it: categorical texts (servetables), every rule set."""
    addresses, availability = read_tables(bundle_release)
    assessments = assess_addresses(addresses, availability)
    munis = bundle_release.read("municipalities")
    return addresses, assessments, munis, PointIndex.from_tables(addresses, munis, assessments)


@pytest.mark.parametrize(
    ("max_distance", "rules"), [(50.0, None), (0.0, "2021"), (120.0, "2016"), (500.0, "2023")]
)
def test_every_column_equals_a_plain_reference_on_the_bundle(service_index, max_distance, rules):
    addresses, assessments, munis, index = service_index
    x, y = bundle_points(addresses, munis)
    ours = index.query(x, y, rules=rules, max_distance=max_distance)
    rid = index.rule_set_id(rules)
    assert (ours["rule_set"] == rid).all()
    expected = reference_answer(addresses, assessments[rid], munis, x, y, max_distance)
    assert_same_answer(ours, expected)
    # The sample reaches what it should: addresses, empty cells, borders, the coast fallback
    # (the 3 addresses off the generalised coastline, at least at their own positions).
    count = ours["cell_addresses"]
    assert (count > 0).sum() > 10_000 and (count == 0).sum() > 10_000
    assert ours["kommunekode"].nunique() == 19 and ours["nearest_id"].notna().sum() > 4_000
    assert (ours["kommune_source"] == "nearest_address").sum() >= 3


def test_string_and_categorical_tables_give_the_same_index_answers(samsoe, service_index):
    # The CLI reads plain string columns, the service categories: one answer.
    addresses, _, munis, categorical = service_index
    plain = samsoe[3]
    x, y = bundle_points(addresses, munis)
    pd.testing.assert_frame_equal(plain.query(x, y), categorical.query(x, y), check_exact=True)


def held_bytes(value: object) -> int:
    """Bytes of the numpy arrays a (nested) dataclass holds."""
    if isinstance(value, np.ndarray):
        return value.nbytes if value.dtype != object else 0
    if isinstance(value, dict):
        return sum(held_bytes(v) for v in value.values())
    fields = getattr(value, "__dataclass_fields__", None)
    return sum(held_bytes(getattr(value, f)) for f in fields) if fields else 0


def test_index_holds_a_few_bytes_per_raster_cell(service_index):
    # The region raster has millions of cells: a dense int32 per cell (a municipality number,
    # an occupied-cell number, an address start) would be 4 bytes per cell each, a bool mask of
    # cells near an address 1 byte per distance asked. Held: ~1 + 2 + 1/5 per set of cells.
    index = service_index[3]
    for distance in (0, 100, 200, 300, 400, MAX_DISTANCE):  # every near-cell mask there can be
        index.query(np.array([600_000.0]), np.array([6_200_000.0]), max_distance=distance)
    cells = index.grid.nrows * index.grid.ncols
    assert cells > 2_000_000  # the bundle's raster spans the region
    assert held_bytes(index) < 5 * cells


# --- the compact structures ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000, 100_003])
def test_cell_set_contains_and_ranks_like_a_dense_mask(size):
    rng = np.random.default_rng(size)
    mask = rng.random(size) < 0.3
    cells = CellSet.from_mask(mask)
    every = np.arange(size)
    assert len(cells) == mask.sum()
    np.testing.assert_array_equal(cells.contains(every), mask)
    np.testing.assert_array_equal(cells.rank(every), np.cumsum(mask) - mask)
    some = rng.integers(0, max(size, 1), 500).astype(np.int32) if size else every
    np.testing.assert_array_equal(cells.contains(some), mask[some])
    assert len(CellSet.from_indices(np.flatnonzero(mask), size)) == mask.sum()


@pytest.mark.parametrize("crowd", [10, 5_000])  # thousands per cell overflow a uint16 offset
def test_starts_find_each_cells_slice(crowd):
    rng = np.random.default_rng(crowd)
    n_cells = 5_000
    cells = np.sort(rng.choice(n_cells, 4_000, replace=False))
    sizes = rng.integers(1, crowd, len(cells)).astype(np.int32)
    starts = Starts.from_counts(cells, sizes, n_cells)
    counts = np.zeros(n_cells, np.int64)
    counts[cells] = sizes
    dense = np.concatenate([[0], np.cumsum(counts)])
    every = np.arange(n_cells + 1)
    np.testing.assert_array_equal(starts.at(every), dense)
    assert starts.offset.dtype == (np.uint16 if crowd == 10 else np.int32)


def test_cell_medians_sums_and_gather_equal_pandas():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 40, 3_000).astype(np.int32)
    cell = np.repeat(np.arange(len(sizes)), sizes)
    down = rng.choice([np.nan, 0.0, 10.0, 100.0, 250.5, 1000.0], len(cell))
    down[cell % 7 == 0] = np.nan  # cells without any value
    expected = pd.Series(down).groupby(cell).median().to_numpy().astype(np.float32)
    for chunk in (1, 50, 1 << 17):  # slices cut at cell boundaries give the same medians
        np.testing.assert_array_equal(cell_medians(down, sizes, chunk), expected)
    flags = down >= 100
    np.testing.assert_array_equal(
        cell_sums(flags, sizes, np.uint8), pd.Series(flags).groupby(cell).sum().to_numpy()
    )
    order = rng.permutation(len(down)).astype(np.int32)
    np.testing.assert_array_equal(gather(down, order, 1000), down[order])


def test_nearest_search_reaches_past_addresses_at_the_raster_edge():
    # Addresses on the extremes of the indexed extent, points up to MAX_DISTANCE beyond them in
    # every direction: the neighbour cells searched lie in the raster's margin.
    box = shapely.box(E0, N0, E0 + 1000, N0 + 1000)
    munis = gpd.GeoDataFrame(
        {"kommunekode": ["0001"], "kommunenavn": ["Aby"]}, geometry=[box], crs=WORK_CRS
    )
    corners = np.array(
        [(0.0, 0.0), (1000.0, 0.0), (0.0, 1000.0), (1000.0, 1000.0), (1500.0, 500.0)]
    )
    addresses = pd.DataFrame(
        {
            "id": [f"a{i}" for i in range(len(corners))],
            "kommunekode": "0001",
            "east": corners[:, 0] + E0,
            "north": corners[:, 1] + N0,
        }
    )
    assessment = pd.DataFrame({"class": ["eligible"] * len(corners), "best_down": 10.0})
    index = PointIndex.from_tables(addresses, munis, {RULES: assessment})
    angle = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = np.concatenate([[MAX_DISTANCE - 0.01, MAX_DISTANCE + 0.01, 250.0]]).repeat(len(angle))
    x = (E0 + corners[:, :1] + ring * np.tile(np.cos(angle), 3)).ravel()
    y = (N0 + corners[:, 1:] + ring * np.tile(np.sin(angle), 3)).ravel()
    answer = index.query(x, y, max_distance=MAX_DISTANCE)
    # Brute force over the five addresses.
    d = np.hypot(
        x[:, None] - addresses["east"].to_numpy(), y[:, None] - addresses["north"].to_numpy()
    )
    reached = d.min(axis=1) <= MAX_DISTANCE
    expected = np.where(reached, addresses["id"].to_numpy()[d.argmin(axis=1)], None)
    assert answer["nearest_id"].astype(object).where(
        answer["nearest_id"].notna(), None
    ).tolist() == list(expected)
    np.testing.assert_allclose(
        answer["nearest_distance_m"], np.where(reached, d.min(axis=1), np.nan)
    )
    assert reached.sum() > 500 and (~reached).sum() > 100  # both sides of the radius are asked
    # The nearest search reads neighbours up to twice the radius from an address unchecked: the
    # raster must reach that far beyond every address.
    grid, rings = index.grid, int(np.ceil(MAX_DISTANCE / 100))
    rows = np.floor_divide(addresses["north"], 100) - grid.row0
    cols = np.floor_divide(addresses["east"], 100) - grid.col0
    assert rows.min() >= 2 * rings and rows.max() <= grid.nrows - 1 - 2 * rings
    assert cols.min() >= 2 * rings and cols.max() <= grid.ncols - 1 - 2 * rings
    far = index.query(np.array([E0 - 1100.0, E0 + 2600]), np.array([N0 - 1100.0, N0 + 2100]))
    assert far["nearest_id"].isna().all() and far["kommunekode"].isna().all()


def test_work_coordinates_checks_denmark_and_names_the_point():
    east, north = work_coordinates([10.63327], [55.82262])
    assert 602_000 < east[0] < 603_000 and 6_186_000 < north[0] < 6_188_000
    with pytest.raises(InvalidRequestError, match=r"row 7: lon=55.8, lat=10.6.*swapped"):
        work_coordinates([55.8], [10.6], labels=np.array([7]), label="row {}")
    with pytest.raises(InvalidRequestError, match=r"EPSG:4326 \(lon/lat\) or EPSG:25832"):
        work_coordinates([1.0], [1.0], "EPSG:3857")


# --- the command line ---------------------------------------------------------------------------


def _points_csv(tables, path: Path, n: int = 200) -> pd.DataFrame:
    """Samsø addresses as a planner's semicolon CSV with decimal commas and a name column."""
    from pyproj import Transformer

    a = tables.addresses.head(n)
    lon, lat = Transformer.from_crs(WORK_CRS, "EPSG:4326", always_xy=True).transform(
        a["east"].to_numpy(), a["north"].to_numpy()
    )
    frame = pd.DataFrame({"navn": [f"Virksomhed {i}" for i in range(n)], "lon": lon, "lat": lat})
    text = frame.assign(
        lon=[f"{v:.7f}".replace(".", ",") for v in lon],
        lat=[f"{v:.7f}".replace(".", ",") for v in lat],
    )
    text.to_csv(path, sep=";", index=False)
    return frame


def test_cli_answers_a_csv_and_prints_a_json_summary(samsoe, bundle_settings, tmp_path):
    tables = samsoe[0]
    source, output = tmp_path / "virksomheder.csv", tmp_path / "svar.csv"
    _points_csv(tables, source)
    result = CliRunner().invoke(
        cli_app,
        ["points", str(source), "-o", str(output), "--rules", "2025", "--json"],
        env={"NETKORT_HOME": str(bundle_settings.home)},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["points"] == 200 and summary["in_municipality"] == 200
    assert summary["rule_set"] == RULES and summary["with_nearest_address"] == 200
    back = pd.read_csv(output, dtype={"kommunekode": str})
    assert back["navn"].iloc[3] == "Virksomhed 3"
    assert (back["kommunekode"] == "0741").all()
    assert (back["nearest_id"] == tables.addresses["id"].head(200).to_numpy()).mean() > 0.95
    assert back["nearest_distance_m"].max() < 0.01  # lon/lat with 7 decimals: centimetres


def test_cli_parquet_with_named_metre_columns(samsoe, bundle_settings, tmp_path):
    tables = samsoe[0]
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pd.DataFrame(
        {"e": tables.addresses["east"].head(50), "n": tables.addresses["north"].head(50)}
    ).to_parquet(source)
    args = ["points", str(source), "-o", str(output), "--x-col", "e", "--y-col", "n", "-q"]
    result = CliRunner().invoke(cli_app, args, env={"NETKORT_HOME": str(bundle_settings.home)})
    assert result.exit_code == 0, result.output
    back = pd.read_parquet(output)
    assert list(back.columns) == ["e", "n", *POINT_COLUMNS]
    assert (back["kommunekode"] == "0741").all() and (back["nearest_distance_m"] == 0).all()


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        (
            "lon;lat\n10,6;55,8\nti;55,9\n",
            [],
            r"column 'lon': 1 value\(s\) are not numbers, e.g. at line 3 \('ti'\)",
        ),
        ("lon,lat\n55.8,10.6\n", [], r"line 2: lon=55.8, lat=10.6.*swapped"),
        ("a,b\n1,2\n", [], "no coordinate columns found among a, b"),
        ("a,b\n1,2\n", ["--lon-col", "x", "--lat-col", "b"], "no column 'x'; columns are a, b"),
        ("lon,lat\n10.6,55.8\n", ["--lon-col", "lon"], "--lon-col with --lat-col"),
    ],
)
def test_cli_refuses_bad_input_with_the_line(bundle_settings, tmp_path, content, options, expected):
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")
    args = ["points", str(source), "-o", str(tmp_path / "out.csv"), *options]
    result = CliRunner().invoke(cli_app, args, env={"NETKORT_HOME": str(bundle_settings.home)})
    assert isinstance(result.exception, SourceError | InvalidRequestError)
    assert re.search(expected, str(result.exception))
    assert not (tmp_path / "out.csv").exists()


def test_cli_error_is_one_line_and_exit_code_2(bundle_settings, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("lon,lat\nx,1\n", encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import coverage.cli.points; from coverage.cli import main; main()",
            "points",
            str(source),
            "-o",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        env={"NETKORT_HOME": str(bundle_settings.home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("netkort: error: ") and "line 2" in run.stderr
    assert "Traceback" not in run.stderr


# --- the service --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(bundle_settings, bundle_release):
    settings = ServiceSettings(
        data=bundle_settings.data,
        home=bundle_settings.home,
        reload_interval=3600,
        max_body_bytes=1_000_000,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_api_answers_points_in_order(client, samsoe):
    a = samsoe[0].addresses
    body = {
        "crs": "EPSG:25832",
        "points": [[a["east"].iloc[0], a["north"].iloc[0]], [610_000.0, 6_190_000.0]],
        "rules": "2025",
    }
    response = client.post("/api/points", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["rule_set"], answer["count"], answer["generated"]) == (RULES, 2, False)
    first, sea = answer["results"]
    assert first["kommunekode"] == "0741" and first["cell"]["name"] == a["ddkn_m100"].iloc[0]
    assert first["nearest"]["id"] == a["id"].iloc[0] and first["nearest"]["distance_m"] == 0
    assert first["nearest"]["class"] in {"eligible", "eligible_if_zone", "not_eligible", "no_data"}
    assert sea["kommunekode"] is None and sea["nearest"] is None and sea["cell"]["addresses"] == 0
    lonlat = client.post("/api/points", json={"points": [[10.63327, 55.82262]]}).json()
    assert lonlat["results"][0]["kommunekode"] == "0741" and lonlat["crs"] == "EPSG:4326"


def test_api_refuses_too_many_and_bad_points(client):
    many = client.post("/api/points", json={"points": [[10.6, 55.8]] * (MAX_POINTS + 1)})
    assert many.status_code == 413 and "at most 10,000" in many.json()["detail"]
    at_limit = client.post("/api/points", json={"points": [[10.6, 55.8]] * MAX_POINTS})
    assert at_limit.status_code == 200 and at_limit.json()["count"] == MAX_POINTS
    for body, text in [
        ({"points": [[10.6, 55.8], [200.0, 55.0]]}, "points[1]: lon=200"),
        ({"points": [[55.8, 10.6]]}, "swapped"),
        ({"points": []}, "at least 1"),
        ({"points": [[10.6]]}, "points"),
        ({"points": [[10.6, 55.8]], "max_distance": 900}, "max_distance"),
        ({"points": [[10.6, 55.8]], "crs": "EPSG:3857"}, "crs"),
    ]:
        response = client.post("/api/points", json=body)
        assert response.status_code == 422, (body, response.text)
        assert text in response.json()["detail"], response.json()
    unknown = client.post("/api/points", json={"points": [[10.6, 55.8]], "rules": "1999"})
    assert unknown.status_code == 404 and "no rule set covers 1999" in unknown.json()["detail"]


# --- B1 at Samsø size: the benchmark's three sides give the same answers -------------------------


def test_b1_benchmark_sides_agree_on_samsoe(samsoe, bundle_settings, tmp_path):
    from pyproj import Transformer

    from bench import bench_points

    tables, _, munis, _ = samsoe
    rng = np.random.default_rng(5)
    xmin, ymin, xmax, ymax = munis.loc[munis["kommunekode"] == "0741"].total_bounds
    own = tables.addresses.sample(1000, random_state=5)
    x = np.concatenate([rng.uniform(xmin, xmax, 2000), own["east"].to_numpy()])
    y = np.concatenate([rng.uniform(ymin, ymax, 2000), own["north"].to_numpy()])
    lon, lat = Transformer.from_crs(WORK_CRS, "EPSG:4326", always_xy=True).transform(x, y)
    points = tmp_path / "points.parquet"
    pd.DataFrame({"lon": lon, "lat": lat}).to_parquet(points)
    home = str(bundle_settings.home)
    # duckdb==1.5.5 is a benchmark-only pin: its side is checked where it is installed.
    sides = ["netkort", "geopandas"] + (["duckdb"] if find_spec("duckdb") else [])
    for side in sides:
        run = getattr(bench_points, f"run_{side}")
        result = run(home=home, points=str(points), sample=str(tmp_path / f"{side}.parquet"))
        assert result["extra"]["points"] == 3000 and result["extra"]["points_per_s"] > 0
        assert any(stage.startswith("Answer: ") for stage in result["stages"])
    answers = pd.read_parquet(tmp_path / "netkort.parquet")
    assert answers["nearest_id"].notna().sum() >= 1000 and answers["cell"].notna().sum() >= 1000
    for side in sides[1:]:
        differ = bench_points.agreement(tmp_path / "netkort.parquet", tmp_path / f"{side}.parquet")
        assert differ == dict.fromkeys(differ, 0), (side, differ)
