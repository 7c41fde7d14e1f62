"""The Dask engine gives exactly the local engine's assessment, zones and measurement aggregates.

A 2-worker LocalCluster (threads, so it starts in milliseconds; one test also runs the command line
on a cluster of worker processes) works on the real Samsø release and on a crafted release of four
municipalities whose addresses are interleaved in the file, with unmatched and duplicate mapping
rows, unknown zones and a zone layer. Results are compared with pandas' and geopandas' testing
helpers: same rows, order, values, dtypes and categories.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from distributed import get_task_stream
from geopandas.testing import assert_geodataframe_equal
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

import coverage.cli.scale  # noqa: F401  (registers `netkort scale` on the app)
from coverage.cli import app
from coverage.distributed import DaskEngine, library_versions
from coverage.engine import (
    ROW,
    LocalEngine,
    Piece,
    measurement_files,
    municipality_pieces,
    open_engine,
    read_piece,
    row_group_pieces,
)
from coverage.errors import ConfigError, InvalidRequestError, NotFoundError, SourceError
from coverage.mobile.measurements import write_measurements
from coverage.release import Release, ReleaseStore
from coverage.rules import get_rule_set, load_rule_sets

runner = CliRunner()
RULES_2025 = "2024-2025"
LOCAL = LocalEngine()

# Four municipalities as 6 km squares in a 2 x 2 block (EPSG:25832).
E0, N0, SIDE = 600_000.0, 6_200_000.0, 6_000.0
MUNIS = {"0706": "Syddjurs", "0707": "Norddjurs", "0741": "Samsø", "0751": "Aarhus"}
CORNERS = {"0706": (0, 0), "0707": (1, 0), "0741": (0, 1), "0751": (1, 1)}


@pytest.fixture(scope="module")
def engine():
    with DaskEngine.connect(workers=2, processes=False, partitions=4) as running:
        yield running


# --------------------------------------------------------------------------------------------------
# A crafted release of four municipalities


def crafted_tables(seed: int = 11) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    """Addresses in villages (some straddling borders), their mapping rows, four municipalities."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([E0 + 300, N0 + 300], [E0 + 2 * SIDE - 300, N0 + 2 * SIDE - 300], (45, 2))
    centres[:4] = [
        [E0 + SIDE, N0 + 2000],
        [E0 + 3000, N0 + SIDE],
        [E0 + SIDE, N0 + SIDE],
        [E0 + 9000, N0 + SIDE + 40],
    ]  # fmt: skip  (villages on the borders)
    sizes = rng.integers(15, 90, len(centres))
    xy = np.concatenate([rng.normal(c, 180, (s, 2)) for c, s in zip(centres, sizes, strict=True)])
    xy = np.vstack([xy, [[E0 - 400, N0 + 100], [E0 - 350, N0 + 180], [E0 + 100, N0 - 300]]])
    n = len(xy)
    col = np.clip((xy[:, 0] - E0) // SIDE, 0, 1).astype(int)
    row = np.clip((xy[:, 1] - N0) // SIDE, 0, 1).astype(int)
    by_corner = {v: k for k, v in CORNERS.items()}
    codes = np.array([by_corner[(c, r)] for c, r in zip(col, row, strict=True)], dtype=object)
    order = rng.permutation(n)  # municipalities interleaved in the file
    xy, codes = xy[order], codes[order]
    ids = [f"{rng.integers(0, 16**8):08x}-0000-4000-8000-{i:012x}" for i in range(n)]
    zones = rng.choice(np.array(["Landzone", "Byzone", "Sommerhusområde", None], dtype=object), n,
                       p=[0.5, 0.2, 0.1, 0.2])  # fmt: skip
    addresses = gpd.GeoDataFrame(
        {
            "id": pd.array(ids, dtype="string"),
            "vejnavn": pd.array([f"Vej {i % 37}" for i in range(n)], dtype="string"),
            "husnr": pd.array([str(1 + i % 90) for i in range(n)], dtype="string"),
            "postnr": pd.array(["8400"] * n, dtype="string"),
            "postnrnavn": pd.array(["Ebeltoft"] * n, dtype="string"),
            "kommunekode": pd.array(codes, dtype="string"),
            "kommunenavn": pd.array([MUNIS[c] for c in codes], dtype="string"),
            "zone": pd.array(zones, dtype="string"),
            "east": xy[:, 0],
            "north": xy[:, 1],
            "generated": rng.random(n) < 0.1,
        },
        geometry=shapely.points(xy),
        crs="EPSG:25832",
    )

    # Mapping rows for 92 % of the addresses, in another order, plus unmatched rows and one
    # duplicate (the first row for an address is the one that counts).
    matched = rng.permutation(n)[: int(n * 0.92)]
    m = len(matched)
    fibre = rng.choice([0.0, 1000.0], m, p=[0.55, 0.45])
    speeds = {
        "fiber_down": fibre,
        "fiber_up": fibre,
        "coax_down": rng.choice([0.0, 300.0, 1000.0], m, p=[0.8, 0.1, 0.1]),
        "coax_up": rng.choice([0.0, 30.0, 100.0], m, p=[0.8, 0.1, 0.1]),
        "xdsl_down": rng.choice([0.0, 8.0, 20.0, 50.0, 70.0], m),
        "xdsl_up": np.full(m, np.nan),  # the mapping file had no such column
        "fwa_down": rng.choice([0.0, 30.0, 100.0], m, p=[0.7, 0.2, 0.1]),
        "fwa_up": rng.choice([0.0, 5.0, 10.0], m, p=[0.7, 0.2, 0.1]),
        "mobile_down": rng.choice([40.0, 150.0, 450.0, 800.0], m, p=[0.2, 0.4, 0.3, 0.1]),
        "mobile_up": rng.choice([10.0, 50.0, np.nan], m),
    }
    mapping = pd.DataFrame(
        {"address_id": pd.array(addresses["id"].to_numpy()[matched], dtype="string")}
        | {k: v.astype("float32") for k, v in speeds.items()}
        | {"generated": rng.random(m) < 0.05}
    )
    duplicate = mapping.iloc[[5]].assign(fiber_down=np.float32(7), xdsl_down=np.float32(7))
    lone = mapping.iloc[:6].assign(address_id=pd.array([None] * 6, dtype="string"))
    mapping = pd.concat([mapping, duplicate, lone], ignore_index=True)
    mapping.insert(0, "row_id", np.arange(len(mapping), dtype="int64"))
    mapping["kommunenavn"] = pd.array(["Syddjurs"] * len(mapping), dtype="string")

    squares = [
        shapely.box(E0 + c * SIDE, N0 + r * SIDE, E0 + (c + 1) * SIDE, N0 + (r + 1) * SIDE)
        for c, r in CORNERS.values()
    ]
    munis = gpd.GeoDataFrame(
        {
            "kommunekode": pd.array(list(MUNIS), dtype="string"),
            "kommunenavn": pd.array(list(MUNIS.values()), dtype="string"),
            "area_km2": [36.0] * 4,
        },
        geometry=squares,
        crs="EPSG:25832",
    )
    return addresses, mapping, munis


@pytest.fixture(scope="module", params=["one-row-group", "many-row-groups"])
def crafted(request, tmp_path_factory) -> Release:
    """The crafted release as the release writer writes it (each table one row group), and as a
    big release would be laid out: addresses sorted by municipality and every table in row groups
    of a few hundred rows (so addresses are pruned by row group and the join shuffles by id)."""
    addresses, mapping, munis = crafted_tables()
    home = tmp_path_factory.mktemp("crafted-home")
    if request.param == "one-row-group":
        store = ReleaseStore(home)
        with store.writer("20260101T000000000Z-crafted") as writer:
            writer.write_table("municipalities", munis)
            writer.write_table("addresses", addresses)
            writer.write_table("availability", mapping)
        return store.current()
    addresses = addresses.sort_values("kommunekode", kind="stable").reset_index(drop=True)
    addresses.to_parquet(home / "addresses.parquet", row_group_size=400, index=False)
    mapping.to_parquet(home / "availability.parquet", row_group_size=500, index=False)
    munis.to_parquet(home / "municipalities.parquet", index=False)
    tables = {
        name: {"file": f"{name}.parquet", "geo": name != "availability"}
        for name in ("addresses", "availability", "municipalities")
    }
    return Release("crafted-row-groups", home, {"tables": tables})


@pytest.fixture(scope="module")
def zone_layer(tmp_path_factory) -> Path:
    """Landzone over the west half, a Byzone town in its middle, Sommerhusområde in the east."""
    path = tmp_path_factory.mktemp("zones") / "zones.gpkg"
    town = shapely.box(E0 + 2000, N0 + 2000, E0 + 4000, N0 + 4000)
    layer = gpd.GeoDataFrame(
        {"zonestatus": ["Landzone", "Byzone", "Sommerhusområde"]},
        geometry=[
            shapely.box(E0, N0, E0 + SIDE, N0 + 2 * SIDE).difference(town),
            town,
            shapely.box(E0 + SIDE, N0, E0 + 2 * SIDE, N0 + SIDE),
        ],
        crs="EPSG:25832",
    )
    layer.to_file(path, engine="pyogrio")
    return path


# --------------------------------------------------------------------------------------------------
# Assessment


def test_samsoe_assessment_is_identical_under_every_rule_set(bundle_release, engine):
    rule_sets = load_rule_sets()
    local = LOCAL.assess(bundle_release, rule_sets)
    with get_task_stream(client=engine.client) as tasks:
        dask = engine.assess(bundle_release, rule_sets)
    assert set(dask) == {r.id for r in rule_sets} == set(local)
    for rule_id, expected in local.items():
        assert_frame_equal(dask[rule_id], expected)
        by_id = [
            f.sort_values("address_id").reset_index(drop=True) for f in (dask[rule_id], expected)
        ]
        assert_frame_equal(*by_id)
    # The real data's known answers (DOMAIN.md): 4,591 addresses, 4,444 with a mapping row, 2 under
    # both 2025 speed ceilings (their zone is unknown in the extract, so "eligible if zone").
    classes = dask[RULES_2025]["class"].value_counts()
    assert len(dask[RULES_2025]) == 4591
    assert classes["no_data"] == 4591 - 4444
    assert classes["eligible_if_zone"] == 2
    # The assessment ran on the cluster's workers.
    assessed = [t for t in tasks.data if "_assess_partition" in str(t["key"])]
    assert assessed and {t["worker"] for t in assessed} <= set(engine.client.nthreads())


def test_crafted_assessment_is_identical_with_and_without_a_zone_layer(crafted, engine, zone_layer):
    rule_sets = load_rule_sets()
    for layer in (None, zone_layer):
        local = LOCAL.assess(crafted, rule_sets, zone_layer=layer)
        with get_task_stream(client=engine.client) as tasks:
            dask = engine.assess(crafted, rule_sets, zone_layer=layer)
        for rule_id, expected in local.items():
            assert_frame_equal(dask[rule_id], expected)
        # One assessment task per municipality partition (or per shuffle partition: also 4).
        assert sum("_assess_partition" in str(t["key"]) for t in tasks.data) == 4
    sources = dask[RULES_2025]["zone_source"].value_counts()
    assert sources["layer"] > 0 and sources["unknown"] > 0  # the 3 points outside the layer
    classes = dask[RULES_2025]["class"].value_counts()
    assert {"eligible", "eligible_if_zone", "not_eligible", "no_data"} <= set(
        classes[classes > 0].index
    )


def test_crafted_assessment_keeps_the_first_mapping_row_of_an_address(crafted, engine):
    mapping = crafted.read("availability")
    twice = mapping["address_id"][mapping["address_id"].duplicated(keep=False)].dropna().unique()
    assert len(twice) == 1
    first = mapping[mapping["address_id"] == twice[0]].iloc[0]
    result = engine.assess(crafted, [get_rule_set(RULES_2025)])[RULES_2025]
    row = result[result["address_id"] == twice[0]].iloc[0]
    assert row["best_down"] == max(first[f"{t}_down"] for t in ("fiber", "coax", "xdsl", "fwa"))
    assert row["best_down"] != 7  # the later duplicate row's fibre


def test_crafted_assessment_of_named_municipalities(crafted, engine):
    rules = [get_rule_set(RULES_2025)]
    local = LOCAL.assess(crafted, rules, municipalities=["Aarhus", "706"])[RULES_2025]
    dask = engine.assess(crafted, rules, municipalities=["Aarhus", "706"])[RULES_2025]
    assert_frame_equal(dask, local)
    assert set(dask["kommunekode"]) == {"0706", "0751"}
    with pytest.raises(NotFoundError, match="Vejle"):
        engine.assess(crafted, rules, municipalities=["Vejle"])


# --------------------------------------------------------------------------------------------------
# Zones


@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"mobile_below": 100.0},
        {"fixed_below": "100/30", "join_distance": None},
        {"fixed_below": "100", "mobile_below": 600.0, "join_distance": 500.0},
    ],
    ids=["eligible", "mobile<100", "fixed<100/30-edges", "fixed<100+mobile<600-500m"],
)
def test_samsoe_zones_are_identical(bundle_release, engine, selection):
    rules = get_rule_set(RULES_2025)
    local = LOCAL.zones(bundle_release, rules, **selection)
    dask = engine.zones(bundle_release, rules, **selection)
    assert_geodataframe_equal(dask, local)
    if selection == {"mobile_below": 100.0}:
        assert len(dask) > 10  # 166 Samsø rows have mobile below 100


def test_crafted_zones_are_identical_per_municipality(crafted, engine):
    rules = get_rule_set(RULES_2025)
    for selection in ({}, {"fixed_below": "100"}, {"mobile_below": 500.0, "join_distance": None}):
        local = LOCAL.zones(crafted, rules, **selection)
        dask = engine.zones(crafted, rules, **selection)
        assert_geodataframe_equal(dask, local)
        assert_geodataframe_equal(
            *(z.sort_values("zone_id").reset_index(drop=True) for z in (dask, local))
        )
        assert dask["kommunekode"].nunique() == 4
    # A village on the border of 0706 and 0707 is cut into a zone on each side.
    border = shapely.LineString([(E0 + SIDE, N0 + 1000), (E0 + SIDE, N0 + 3000)])
    cut = dask[shapely.intersects(dask.geometry.to_numpy(), border)]
    assert set(cut["kommunekode"]) == {"0706", "0707"}


def test_crafted_zones_of_one_municipality_and_nothing_selected(crafted, engine):
    rules = get_rule_set(RULES_2025)
    local = LOCAL.zones(crafted, rules, municipalities=["0741"], mobile_below=100.0)
    dask = engine.zones(crafted, rules, municipalities=["0741"], mobile_below=100.0)
    assert_geodataframe_equal(dask, local)
    assert set(dask["kommunekode"]) == {"0741"}
    none_local = LOCAL.zones(crafted, rules, mobile_below=1.0)
    none_dask = engine.zones(crafted, rules, mobile_below=1.0)
    assert len(none_dask) == 0
    assert_geodataframe_equal(none_dask, none_local)


def test_bad_selections_are_refused_before_any_task(crafted, engine):
    rules = get_rule_set(RULES_2025)
    for bad in ({"fixed_below": "fast"}, {"mobile_below": -5.0}, {"join_distance": -1.0}):
        with pytest.raises(InvalidRequestError):
            LOCAL.zones(crafted, rules, **bad)
        with pytest.raises(InvalidRequestError):
            engine.zones(crafted, rules, **bad)


# --------------------------------------------------------------------------------------------------
# Measurement aggregates


def measurements(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "time": pd.Timestamp("2026-03-01T00:00:00Z")
            + pd.to_timedelta(rng.integers(0, 86_400 * 30, n), unit="s"),
            "east": 600_000 + rng.uniform(0, 2_500, n),
            "north": 6_190_000 + rng.uniform(0, 1_500, n),
            "operator": rng.choice(["TDC", "Telenor", "Telia", "3"], n),
            "technology": rng.choice(["4G", "5G NSA", "5G SA"], n),
            "rsrp": rng.normal(-100, 12, n).clip(-140, -44).round(1),
            "down": rng.lognormal(4, 1, n).clip(0, 2_000).round(2),
            "up": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(2, 1, n).round(2)),
            "device": [f"d{i}" for i in rng.integers(0, 300, n)],
            "generated": True,
        }
    )


@pytest.fixture(scope="module")
def measurement_folder(tmp_path_factory) -> Path:
    """Two GeoParquet files and a CSV over the same cells: groups span the input partitions."""
    folder = tmp_path_factory.mktemp("measurements")
    write_measurements(measurements(12_000, 1), folder / "a.parquet")
    write_measurements(measurements(12_000, 2), folder / "b.parquet")
    c = measurements(3_000, 3)
    c["time"] = c["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    c.rename(columns={"east": "x", "north": "y"}).to_csv(folder / "c.csv", index=False)
    return folder


@pytest.mark.parametrize("size", [100, 1000])
def test_measurement_aggregates_are_identical(measurement_folder, engine, size):
    files = measurement_files(measurement_folder)
    assert [f.name for f in files] == ["a.parquet", "b.parquet", "c.csv"]
    local = LOCAL.aggregate(files, size=size)
    dask = engine.aggregate(files, size=size)
    assert_frame_equal(dask.cells, local.cells)
    assert (dask.withheld, dask.withheld_samples) == (local.withheld, local.withheld_samples)
    assert len(dask.cells) > 0 and dask.cells["generated"].all()
    if size == 100:
        assert dask.withheld > 0  # sparse 100 m cells fall under the privacy rule
    # Groups take samples from several files, so they were put together across partitions.
    single = LOCAL.aggregate(files[:1], size=size).cells.set_index(
        ["cell", "operator", "technology"]
    )
    joined = dask.cells.set_index(["cell", "operator", "technology"])
    both = joined.index.intersection(single.index)
    assert (joined.loc[both, "samples"] > single.loc[both, "samples"]).mean() > 0.5


def test_a_bad_measurement_file_raises_the_same_error_from_a_worker(tmp_path, engine):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,x,y,operator\n2026-03-01T00:00:00Z,600000,6190000,TDC\n")
    with pytest.raises(SourceError) as local:
        LOCAL.aggregate([bad])
    with pytest.raises(SourceError) as remote:
        engine.aggregate([bad])
    assert remote.value.path == local.value.path == str(bad)
    assert "technology" in remote.value.problem
    with pytest.raises(ValueError, match="cell size"):
        engine.aggregate([bad], size=250)


# --------------------------------------------------------------------------------------------------
# Reading pieces of GeoParquet


def test_pieces_skip_row_groups_and_rebuild_the_table(tmp_path, crafted):
    addresses = crafted.read("addresses")
    path = tmp_path / "sorted.parquet"
    # Sorted by municipality in row groups of 300: each municipality's piece reads only its own.
    ordered = addresses.sort_values(["kommunekode", "id"], kind="stable").reset_index(drop=True)
    ordered.to_parquet(path, row_group_size=300, index=False)
    columns = ["id", "kommunekode", "zone", "generated", "geometry"]
    pieces = municipality_pieces(path, columns, list(MUNIS))
    groups = pq.ParquetFile(path).metadata.num_row_groups
    assert groups > 4 and sum(len(p.row_groups) for p in pieces) < groups + 4
    frames = [read_piece(p) for p in pieces]
    assert [set(f["kommunekode"]) for f in frames] == [{c} for c in MUNIS]
    rebuilt = pd.concat(frames).sort_values(ROW)
    assert rebuilt[ROW].tolist() == list(range(len(ordered)))
    assert_geodataframe_equal(
        rebuilt.drop(columns=ROW).reset_index(drop=True),
        gpd.read_parquet(path, columns=columns),
    )
    # Mapping rows by row group, without the rows that matched no address.
    mapping = crafted.table_path("availability")
    pieces = row_group_pieces(mapping, ["address_id", "fiber_down"], drop_null="address_id")
    assert len(pieces) == pq.ParquetFile(mapping).metadata.num_row_groups
    frame = pd.concat([read_piece(p) for p in pieces], ignore_index=True)
    expected = pd.read_parquet(mapping, columns=["address_id", "fiber_down"])
    assert frame[ROW].tolist() == np.flatnonzero(expected["address_id"].notna()).tolist()
    assert_frame_equal(
        frame.drop(columns=ROW).reset_index(drop=True),
        expected.dropna(subset=["address_id"]).reset_index(drop=True),
    )


def test_a_piece_a_worker_cannot_read_names_the_file_and_shared_storage(tmp_path):
    missing = Piece(str(tmp_path / "nowhere.parquet"), (0,), (0,), ("id",))
    with pytest.raises(ConfigError, match=r"nowhere\.parquet.*shared storage"):
        read_piece(missing)


# --------------------------------------------------------------------------------------------------
# Choosing and reaching an engine


def test_engine_choices_and_scheduler_mistakes():
    with pytest.raises(InvalidRequestError, match="spark"):
        with open_engine("spark"):
            pass
    with pytest.raises(ConfigError, match=r"--scheduler.*only for --engine dask"):
        with open_engine("local", scheduler="tcp://127.0.0.1:8786"):
            pass
    with open_engine("local") as local:
        assert local.name == "local"
    with pytest.raises(ConfigError, match="missing port"):
        DaskEngine.connect("nonsense")
    with pytest.raises(ConfigError, match="cannot reach a Dask scheduler"):
        DaskEngine.connect("tcp://127.0.0.1:1", timeout=0.5)  # nothing listens on port 1
    with pytest.raises(ConfigError, match="at least 1 worker"):
        DaskEngine.connect(workers=0)


def test_workers_with_other_versions_are_refused(engine):
    engine.check_workers()  # the same process: the same versions
    with pytest.raises(ConfigError, match=r"shapely 0\.0 here, 2\.\d+\.\d+ there"):
        engine.check_workers({**library_versions(), "shapely": "0.0"})


# --------------------------------------------------------------------------------------------------
# The command line


def test_netkort_scale_writes_identical_files_on_both_engines(
    bundle_settings, bundle_release, engine, tmp_path
):
    home = ["--home", str(bundle_settings.home)]
    on_dask = ["--engine", "dask", "--scheduler", engine.client.scheduler.address]
    written = {}
    for name, extra in (("local", []), ("dask", on_dask)):
        target = tmp_path / f"{name}.parquet"
        result = runner.invoke(
            app, ["scale", "assess", "-o", str(target), "--rules", "2025", "--json", *home, *extra]
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        assert summary["engine"] == name and summary["layers"] == {"addresses_2024-2025": 4591}
        written[name] = gpd.read_parquet(target)
    assert_geodataframe_equal(written["dask"], written["local"])
    assert (written["dask"]["class"] == "eligible_if_zone").sum() == 2

    zones = {}
    for name, extra in (("local", []), ("dask", on_dask)):
        target = tmp_path / f"zones-{name}.gpkg"
        args = ["scale", "zones", "-o", str(target), "--mobile-below", "100", "-q", *home, *extra]
        assert runner.invoke(app, args).exit_code == 0
        zones[name] = gpd.read_file(target, layer="zones")
    assert_geodataframe_equal(zones["dask"], zones["local"])
    assert len(zones["dask"]) > 10


def test_netkort_scale_aggregate_on_a_cluster_of_processes(measurement_folder, tmp_path):
    """The real thing: `netkort scale` starts its own LocalCluster of two worker processes."""
    script = "import coverage.cli.scale; from coverage.cli import main; main()"
    outputs = {}
    for name, extra in (("local", []), ("dask", ["--engine", "dask", "--workers", "2"])):
        target = tmp_path / f"cells-{name}.parquet"
        done = subprocess.run(
            [sys.executable, "-c", script, "scale", "aggregate", str(measurement_folder),
             "-o", str(target), "--size", "1000", "--json", *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, (name, done.stderr)
        assert json.loads(done.stdout)["engine"] == name
        outputs[name] = gpd.read_parquet(target)
    assert_geodataframe_equal(outputs["dask"], outputs["local"])
    assert len(outputs["dask"]) > 0


def test_netkort_scale_mistakes_exit_2_with_one_line(tmp_path, bundle_settings, bundle_release):
    home = ["--home", str(bundle_settings.home)]
    out = str(tmp_path / "x.gpkg")
    script = "import coverage.cli.scale; from coverage.cli import main; main()"
    for args, message in (
        (["assess", "-o", out, "--engine", "spark", *home], "--engine 'spark'"),
        (
            ["zones", "-o", out, "--engine", "dask", "--scheduler", "nonsense", *home],
            "missing port",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, "scale", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
    # The same kind of mistakes in process: the library's own errors, which main() turns into
    # one line and exit code 2 as above.
    for args, error, message in (
        (["assess", "-o", out, "--workers", "2", *home], ConfigError, "only for --engine dask"),
        (["aggregate", str(tmp_path / "none.csv"), "-o", out], SourceError, "not found"),
        (["zones", "-o", out, "-m", "Vejle", *home], NotFoundError, "Vejle"),
        (["zones", "-o", str(tmp_path / "x.txt"), *home], InvalidRequestError, "format"),
    ):
        result = runner.invoke(app, ["scale", *args])
        assert isinstance(result.exception, error), (args, result.exception)
        assert message in str(result.exception)
        assert not (tmp_path / "x.gpkg").exists()
