"""``netkort synth`` mobile output: sites and chunked measurements that build through the normal ingest.

Also the batch reader the build uses for measurements: the same rows, the same quarantine and the
same aggregates as reading the whole file at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from typer.testing import CliRunner

from coverage.boundaries import load_region
from coverage.build import build_release
from coverage.cli import app
from coverage.mobile.aggregate import aggregate
from coverage.mobile.batches import COMPACT_COLUMNS, scan_measurements
from coverage.mobile.calibrate import calibration_samples
from coverage.mobile.measurements import read_measurements
from coverage.mobile.sites import read_sites
from coverage.quarantine import Quarantine
from coverage.settings import Settings
from coverage.sources import load_manifest
from coverage.synth import SynthOptions, synthesize
from coverage.synth_mobile import (
    MEASUREMENTS_FILE,
    SITE_CSV_COLUMNS,
    SITES_FILE,
    MobileOptions,
    auto_density,
    generate_sites,
)

EPOCH = "1780000000"  # 2026-05-28: a fixed generation date, so runs are byte-identical
SEED = 11
ADDRESSES = 2000
SITES = 30
MEASUREMENTS = 20_000
CHUNK = 6_000  # four chunks, the last one short


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("synth-mobile") / "a"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        synthesize(out, data_dir, _options())
    return out


def _options() -> SynthOptions:
    mobile = MobileOptions(sites=SITES, measurements=MEASUREMENTS, chunk_rows=CHUNK)
    return SynthOptions(addresses=ADDRESSES, seed=SEED, mobile=mobile)


@pytest.fixture(scope="module")
def release(generated: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path):
    settings = Settings(data=data_dir, home=tmp_path_factory.mktemp("synth-mobile-home"))
    return build_release(settings, load_manifest(generated / "sources.toml", data_dir)).release


def test_sites_are_in_the_bundles_mast_format_and_read_cleanly(generated: Path, data_dir: Path):
    header = (data_dir / "masts" / "samsoe_masts_osm.csv").read_text("utf-8").splitlines()[0]
    text = (generated / SITES_FILE).read_text("utf-8").splitlines()
    assert text[0].split(",") == [*header.split(","), "generated"] == list(SITE_CSV_COLUMNS)
    quarantine = Quarantine()
    sites = read_sites(generated / SITES_FILE, quarantine, generated=True)
    assert quarantine.frame().empty
    assert len(sites) == SITES and sites["mobile"].all() and sites["generated"].all()
    assert sites["operator"].value_counts().to_dict() == {"TDC": 10, "Telenor": 10, "Telia": 10}
    assert sites["site_id"].str.startswith("synt-").all()


def test_measurements_are_geoparquet_in_chunks_marked_generated(generated: Path, data_dir: Path):
    path = generated / MEASUREMENTS_FILE
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == MEASUREMENTS
    assert meta.num_row_groups == 4  # one row group per chunk: never all in memory at once
    frame = gpd.read_parquet(path)
    assert frame.crs.to_epsg() == 25832
    assert frame["generated"].all()
    assert frame["device"].astype(str).str.startswith("synt-").all()
    assert set(frame["operator"].astype(str)) == {"TDC", "Telenor", "Telia"}
    end = pd.Timestamp(int(EPOCH), unit="s", tz="UTC").normalize()
    assert frame["time"].max() <= end and frame["time"].min() >= end - pd.Timedelta(days=90)
    # Crowd tests repeat from the same homes: far fewer devices than samples.
    assert frame["device"].nunique() < MEASUREMENTS / 5
    # Every sample lies in region 1082 (jittered homes may sit a few metres off its coast).
    b = load_manifest(None, data_dir).boundaries
    outline = load_region(b.municipalities, b.regions, b.postcodes, "1082").outline
    assert shapely.dwithin(outline, np.asarray(frame.geometry.array), 100.0).all()


def test_same_seed_same_bytes(generated: Path, tmp_path: Path, data_dir: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    again = synthesize(tmp_path / "b", data_dir, _options()).out_dir
    for name in (SITES_FILE, MEASUREMENTS_FILE, "README.txt"):
        assert (again / name).read_bytes() == (generated / name).read_bytes(), name
    assert not list(again.glob(".mobile-model-*"))  # the scratch model is removed


def test_normal_build_reads_them_and_says_generated(release, generated: Path):
    manifest = release.manifest
    inputs = {i["kind"]: i for i in manifest["inputs"]}
    assert inputs["sites"]["generated"] is True and inputs["measurements"]["generated"] is True
    assert manifest["generated"] is True
    assert any("ikke virkelige målinger" in line for line in manifest["attribution"])
    counts = manifest["counts"]["mobile"]
    assert counts["mobile_sites"] == SITES
    assert counts["measurements"] == MEASUREMENTS
    quarantine = release.read("quarantine")
    assert not (quarantine["source"] == "measurements").any()
    assert manifest["mobile"]["generated"] is True
    cells = release.read("mobile_cells_1000m")
    assert len(cells) > 0 and cells["generated"].all()
    # Calibration against samples drawn from a model of the same sites finds a small offset.
    calibrated = [la["calibration"] for la in manifest["mobile"]["layers"] if la["calibration"]]
    assert calibrated and all(abs(c["offset_db"]) < 3.0 for c in calibrated)
    readme = (generated / "README.txt").read_text("utf-8")
    assert SITES_FILE in readme and MEASUREMENTS_FILE in readme and f"{MEASUREMENTS:,}" in readme


def test_batches_give_the_same_rows_and_aggregates_as_one_read(generated: Path):
    path = generated / MEASUREMENTS_FILE
    now = datetime(2026, 6, 1, tzinfo=UTC)
    whole = read_measurements(path, Quarantine(), generated=True, now=now)
    compact = scan_measurements([(path, True)], Quarantine(), now=now, batch_rows=4_999)
    assert list(compact.columns) == COMPACT_COLUMNS
    assert len(compact) == len(whole) == MEASUREMENTS
    np.testing.assert_array_equal(compact["east"].to_numpy(), whole["east"].to_numpy())
    assert (compact["device"].astype(str).to_numpy() == whole["device"].to_numpy()).all()
    for size in (100, 1000):
        a, b = aggregate(whole, size), aggregate(compact, size)
        pd.testing.assert_frame_equal(a.cells, b.cells)
        assert (a.withheld, a.withheld_samples) == (b.withheld, b.withheld_samples)


def _bad_rows_file(path: Path) -> Path:
    """Nine rows in EPSG:4326: three good, six bad in different ways, spread over batches."""
    lon = np.array([10.6, 10.61, 10.62, 10.63, 10.64, 10.65, 10.66, 10.67, 10.68])
    frame = gpd.GeoDataFrame(
        {
            "time": pd.to_datetime(["2026-03-01T12:00:00Z"] * 8 + ["2031-01-01T00:00:00Z"]),
            "operator": ["TDC", "Foo", "Telia", "238-02", "TDC", "TDC", "Telia", "TDC", "TDC"],
            "technology": ["LTE", "4G", "5G", "5G NSA", "4G", "4G", "4G", "5g sa", "4G"],
            "rsrp": [-90.0, -91.0, -92.0, -93.0, 20.0, -95.0, np.nan, -97.0, -98.0],
            "down": [50.0, 60.0, 70.0, 80.0, 90.0, 100.0, np.nan, 20.0, 30.0],
            "device": ["a", "b", "c", " d ", "e", "", "g", "h", "i"],
            "environment": ["outdoor"] * 7 + ["car", "outdoor"],
        },
        geometry=shapely.points(lon, np.full(9, 55.85)),
        crs="EPSG:4326",
    )
    frame.to_parquet(path)
    return path


def test_batches_quarantine_the_same_rows_with_the_same_row_numbers(tmp_path: Path):
    path = _bad_rows_file(tmp_path / "m.parquet")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    q_whole, q_batch = Quarantine(), Quarantine()
    whole = read_measurements(path, q_whole, now=now)
    compact = scan_measurements([(path, False)], q_batch, now=now, batch_rows=2)
    pd.testing.assert_frame_equal(q_whole.frame(), q_batch.frame())
    assert sorted(q_batch.frame()["line"].astype(int)) == [2, 3, 5, 6, 7, 9]
    assert len(compact) == len(whole) == 3
    np.testing.assert_allclose(compact["east"], whole["east"])  # 4326 → 25832 per batch
    assert list(compact["device"].astype(str)) == ["a", "d", "h"]


def test_calibration_takes_a_seeded_subset_beyond_the_limit(generated: Path):
    compact = scan_measurements([(generated / MEASUREMENTS_FILE, True)], Quarantine())
    text = compact.assign(**{c: compact[c].astype("string") for c in ("operator", "technology")})
    full = calibration_samples(compact, "TDC", "4G", limit=None)
    assert len(full) > 500
    pd.testing.assert_frame_equal(full, calibration_samples(text, "TDC", "4G", limit=None))
    part = calibration_samples(compact, "TDC", "4G", limit=500, seed=3)
    assert len(part) == 500
    pd.testing.assert_frame_equal(
        part, calibration_samples(compact, "TDC", "4G", limit=500, seed=3)
    )
    assert part["rsrp"].median() == pytest.approx(full["rsrp"].median(), abs=3.0)


def test_auto_density_is_the_bundles_towers_per_km2(data_dir: Path):
    bundle = load_manifest(None, data_dir)
    b = bundle.boundaries
    region = load_region(b.municipalities, b.regions, b.postcodes, "1082")
    masts = pd.read_csv(data_dir / "masts" / "samsoe_masts_osm.csv")
    towers = int((masts["kind"] == "communication_tower").sum())
    samsoe = region.municipalities.set_index("kommunekode").loc["0741", "geometry"]
    density = auto_density(bundle, region)
    assert density == pytest.approx(towers / (samsoe.area / 1e6))
    # The plain default: about one site per 13-16 km² per operator over the region, plus towns.
    sites = generate_sites(region, None, density / (1 / 12), seed=1)
    per_operator = sites["operator"].value_counts()
    assert set(per_operator.index) == {"TDC", "Telenor", "Telia"}
    assert ((per_operator > 800) & (per_operator < 1300)).all(), per_operator


def test_default_measurements_are_millions_at_national_scale():
    assert MobileOptions().n_measurements(3_800_000) == 20_000_000
    assert MobileOptions(sites=0).n_measurements(3_800_000) == 0
    assert MobileOptions(measurements=0).n_measurements(3_800_000) == 0


def test_cli_takes_the_site_count_and_skips_measurements_on_zero(tmp_path: Path):
    out = tmp_path / "c"
    result = CliRunner().invoke(
        app,
        ["synth", "-o", str(out), "--addresses", "500", "--sites", "12", "--measurements", "0"],
        env={"SOURCE_DATE_EPOCH": EPOCH},
    )
    assert result.exit_code == 0, result.output
    assert len((out / SITES_FILE).read_text("utf-8").splitlines()) == 1 + 12
    assert not (out / MEASUREMENTS_FILE).exists()
    manifest = load_manifest(out / "sources.toml", None)
    assert [f.path.name for f in manifest.of("sites")] == [SITES_FILE]
    assert not manifest.of("measurements")


def test_geoarrow_geometry_falls_back_to_the_whole_file_reader(tmp_path: Path):
    frame = gpd.GeoDataFrame(
        {
            "time": pd.to_datetime(["2026-03-01T12:00:00Z"] * 3),
            "operator": ["TDC", "Telia", "TDC"],
            "technology": ["4G", "5G SA", "LTE"],
            "rsrp": [-90.0, -91.0, -92.0],
            "device": ["a", "b", "c"],
        },
        geometry=shapely.points([600000.0, 600100.0, 600200.0], [6190000.0] * 3),
        crs="EPSG:25832",
    )
    frame.to_parquet(tmp_path / "g.parquet", geometry_encoding="geoarrow")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    compact = scan_measurements([(tmp_path / "g.parquet", False)], Quarantine(), now=now)
    assert list(compact["east"]) == [600000.0, 600100.0, 600200.0]
    assert list(compact["technology"].astype(str)) == ["4G", "5G SA", "4G"]
