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
from coverage.assess import assess_many
from coverage.cli.common import app as cli_app
from coverage.errors import InvalidRequestError, SourceError
from coverage.points import POINT_COLUMNS, PointIndex, work_coordinates
from coverage.rules import resolve_rule_sets
from coverage.stats import read_release_tables
from coverage.types import WORK_CRS
from coverage.gridstats import grid_cell_stats
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
