"""``netkort synth``: seeded generated data that builds through the normal ingest and says it is generated."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from typer.testing import CliRunner

from coverage.build import build_release
from coverage.cli import app, main
from coverage.errors import InvalidRequestError
from coverage.grid import cell_names
from coverage.settings import Settings
from coverage.sources import Boundaries, load_manifest
from coverage.synth import (
    ADDRESS_CSV_COLUMNS,
    ManifestEntry,
    SynthOptions,
    append_manifest_entries,
    synthesize,
    write_manifest,
)
from coverage.synth_mobile import MobileOptions

SEED = 7
N = 5000
EPOCH = "1780000000"  # a fixed README date, so two runs are byte-identical even across midnight
SPEEDS = [
    "fiber_ned", "fiber_op", "coax_ned", "coax_op", "xdsl_ned", "mobil_ned", "mobil_op", "fwa_ned",
]  # fmt: skip
FIXED_DOWN = ["fiber_down", "coax_down", "xdsl_down", "fwa_down"]
#: Mobile output has its own tests (test_synth_mobile.py); these are about addresses and mapping.
NO_MOBILE = MobileOptions(sites=0)


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), env={"SOURCE_DATE_EPOCH": EPOCH})
    assert result.exit_code == 0, result.output + repr(result.exception)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    run_cli(
        "synth",
        "-o",
        str(out),
        "--addresses",
        str(N),
        "--seed",
        str(SEED),
        "--sites",
        "0",
        "--quiet",
    )
    return out


@pytest.fixture(scope="module")
def release(generated: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path):
    settings = Settings(data=data_dir, home=tmp_path_factory.mktemp("synth-home"))
    manifest = load_manifest(generated / "sources.toml", settings.data)
    return build_release(settings, manifest).release


@pytest.fixture(scope="module")
def register(generated: Path) -> pd.DataFrame:
    return pd.read_csv(generated / "adgangsadresser.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def mapping(generated: Path) -> pd.DataFrame:
    return pd.read_csv(generated / "bbk_udbudt.csv", dtype={"postnr": str, "husnr": str})


def test_same_seed_gives_the_same_bytes(generated: Path, tmp_path: Path):
    again = tmp_path / "b"
    same = ("synth", "-o", str(again), "--addresses", str(N), "--seed", str(SEED), "--sites", "0")
    run_cli(*same, "--quiet")
    for name in ("adgangsadresser.csv", "bbk_udbudt.csv", "README.txt"):
        assert (again / name).read_bytes() == (generated / name).read_bytes(), name
    # The manifest names its own folder (absolute paths); otherwise it is the same.
    first = (generated / "sources.toml").read_text(encoding="utf-8")
    second = (again / "sources.toml").read_text(encoding="utf-8")
    assert second.replace(str(again.resolve()), "DIR") == first.replace(
        str(generated.resolve()), "DIR"
    )
    # Writing into the same folder again changes nothing at all.
    before = {p.name: p.read_bytes() for p in again.iterdir()}
    run_cli(*same, "--quiet")
    assert {p.name: p.read_bytes() for p in again.iterdir()} == before

    other = tmp_path / "c"
    run_cli(
        "synth",
        "-o",
        str(other),
        "--addresses",
        str(N),
        "--seed",
        str(SEED + 1),
        "--sites",
        "0",
        "--quiet",
    )
    assert (other / "adgangsadresser.csv").read_bytes() != (
        generated / "adgangsadresser.csv"
    ).read_bytes()


def test_normal_build_accepts_everything_and_says_generated(release):
    counts = release.manifest["counts"]
    assert counts["addresses"]["read"] == N
    assert counts["addresses"]["accepted"] == N
    assert counts["addresses"]["quarantined"] == 0
    assert counts["mapping"]["read"] == N
    assert counts["mapping"]["quarantined"] == 0
    assert 0.015 < counts["mapping"]["unmatched"] / N < 0.035  # new streets, as in the real file
    assert release.manifest["generated"] is True
    generated_inputs = {i["kind"]: i["generated"] for i in release.manifest["inputs"]}
    assert generated_inputs["addresses"] is True and generated_inputs["mapping"] is True
    assert generated_inputs["municipalities"] is False  # the boundaries are real
    assert any("GENERERET" in line for line in release.manifest["attribution"])

    addresses = release.read("addresses")
    assert addresses["generated"].all()
    assert release.read("availability")["generated"].all()
    assert set(addresses["kommunekode"]) == set(release.read("municipalities")["kommunekode"])


def test_addresses_lie_in_their_municipality_and_postcode(release):
    addresses = release.read("addresses")
    munis = release.read("municipalities").set_index("kommunekode")
    posts = release.read("postcodes").set_index("postnr")
    points = addresses.geometry.array
    own_muni = munis.geometry.loc[addresses["kommunekode"]].array
    own_post = posts.geometry.loc[addresses["postnr"]].array
    # 1 m: the register rounds to centimetres, and pieces come from DAGI's generalised outlines.
    assert shapely.dwithin(np.asarray(own_muni), np.asarray(points), 1.0).all()
    assert shapely.dwithin(np.asarray(own_post), np.asarray(points), 1.0).all()
    # Not all in one corner: every municipality of the region has addresses.
    assert addresses["kommunekode"].nunique() == 19


def test_register_columns_names_and_cells(register: pd.DataFrame, data_dir: Path):
    real_header = (
        (data_dir / "dar" / "adgangsadresser_0741_samsoe.csv")
        .read_text(encoding="utf-8")
        .splitlines()[0]
    )
    assert list(register.columns) == [*real_header.split(","), "generated"]
    assert tuple(register.columns) == ADDRESS_CSV_COLUMNS
    assert (register["generated"] == "true").all()
    assert (
        register["id"]
        .str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
        .all()
    )
    assert register["id"].is_unique
    assert register["vejnavn"].str.startswith("Synt. ").all()
    town = register["supplerendebynavn"]
    assert town[town != ""].str.startswith("Synt. ").all()
    assert register["husnr"].str.fullmatch(r"[1-9][0-9]{0,2}[A-Z]?").all()
    lettered = register["husnr"].str.contains("[A-Z]").mean()
    assert 0.05 < lettered < 0.25  # Samsø's register: 16 %
    assert not register.duplicated(["vejnavn", "husnr", "postnr"]).any()
    assert set(register["zone"]) == {"Byzone", "Landzone", "Sommerhusområde"}
    assert (register["regionskode"] == "1082").all()
    assert (register["regionsnavn"] == "Region Midtjylland").all()

    east = register["etrs89koordinat_øst"].astype(float).to_numpy()
    north = register["etrs89koordinat_nord"].astype(float).to_numpy()
    for size, column in ((100, "ddkn_m100"), (1000, "ddkn_km1"), (10000, "ddkn_km10")):
        assert (register[column].to_numpy() == cell_names(east, north, size)).all(), column
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(east, north)
    assert np.abs(register["wgs84koordinat_bredde"].astype(float) - lat).max() < 1e-6
    assert np.abs(register["wgs84koordinat_længde"].astype(float) - lon).max() < 1e-6


def test_speeds_are_real_rows_or_built_from_real_offers(mapping: pd.DataFrame, data_dir: Path):
    real = pd.read_csv(data_dir / "bbk" / "bbk26_udbudt_8305_samsoe.csv")
    assert list(mapping.columns) == [*real.columns, "generated"]
    best = mapping[["fiber_ned", "coax_ned", "xdsl_ned", "fwa_ned"]].max(axis=1)
    served = mapping[best >= 100]
    real_rows = set(map(tuple, real[SPEEDS].to_numpy()))
    assert set(map(tuple, served[SPEEDS].to_numpy())) <= real_rows
    slow = mapping[best < 100]
    assert (slow[["fiber_ned", "fiber_op", "coax_ned", "coax_op", "fwa_ned"]] == 0).all().all()
    assert set(slow["xdsl_ned"]) <= set(real["xdsl_ned"]) | {0}
    assert set(map(tuple, slow[["mobil_ned", "mobil_op"]].to_numpy())) <= set(
        map(tuple, real[["mobil_ned", "mobil_op"]].to_numpy())
    )


def nearest_neighbour_mean(points: np.ndarray) -> float:
    tree = shapely.STRtree(points)
    _, dist = tree.query_nearest(points, exclusive=True, return_distance=True, all_matches=False)
    return float(dist.mean())


def test_underserved_share_and_clusters(release):
    availability = release.read("availability")
    matched = availability[availability["address_id"].notna()]
    best = matched[FIXED_DOWN].max(axis=1)
    slow = matched[best < 100]
    assert len(slow) / len(matched) == pytest.approx(0.02, abs=0.002)

    addresses = release.read("addresses").set_index("id")
    slow_points = np.asarray(addresses.geometry.loc[slow["address_id"]].array)
    assert (addresses.loc[slow["address_id"], "zone"] == "Landzone").all()  # rural gaps
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(5):
        sample = rng.choice(matched["address_id"].to_numpy(), size=len(slow), replace=False)
        random_points = np.asarray(addresses.geometry.loc[sample].array)
        ratios.append(nearest_neighbour_mean(slow_points) / nearest_neighbour_mean(random_points))
    assert max(ratios) < 0.5, ratios


def test_underserved_share_follows_the_option(tmp_path: Path, data_dir: Path):
    result = synthesize(
        tmp_path,
        data_dir,
        SynthOptions(addresses=3000, seed=3, underserved=0.1, unmatched=0.0, mobile=NO_MOBILE),
    )
    rows = pd.read_csv(result.files["mapping"])
    best = rows[["fiber_ned", "coax_ned", "xdsl_ned", "fwa_ned"]].max(axis=1)
    assert len(rows) == 3000
    assert (best < 100).sum() == 300 == result.counts["underserved_rows"]


def test_national_scale_covers_every_region_and_builds(tmp_path: Path, data_dir: Path):
    out = tmp_path / "synth"
    result = synthesize(
        out, data_dir, SynthOptions(scale="national", addresses=60_000, seed=1, mobile=NO_MOBILE)
    )
    register = pd.read_csv(result.files["addresses"], dtype=str, keep_default_na=False)
    assert register["postnr"].str.fullmatch(r"\d{4}").all()
    # DAGI gives central Copenhagen as ranges ("1000-1499"); streets there get codes of the range.
    assert register["postnr"].astype(int).between(1000, 1899).any()
    region_of = register.groupby("kommunekode")["regionskode"].agg(set)
    assert (region_of.map(len) == 1).all()
    region_of = region_of.map(lambda s: next(iter(s)))
    assert region_of["0101"] == "1084"  # København, Region Hovedstaden
    assert region_of["0751"] == "1082"  # Aarhus, Region Midtjylland
    assert region_of["0851"] == "1081"  # Aalborg, Region Nordjylland
    assert region_of["0461"] == "1083"  # Odense, Region Syddanmark
    assert region_of["0259"] == "1085"  # Køge, Region Sjælland
    assert register["kommunekode"].nunique() >= 97
    assert "--region all" in result.build_command
    assert "--region all" in result.files["readme"].read_text(encoding="utf-8")

    settings = Settings(data=data_dir, home=tmp_path / "home", region="all")
    built = build_release(settings, load_manifest(result.files["manifest"], data_dir))
    counts = built.counts
    assert counts["municipalities"] == 99
    assert counts["addresses"]["accepted"] == 60_000 and counts["addresses"]["quarantined"] == 0
    assert counts["mapping"]["quarantined"] == 0
    assert counts["mapping"]["matched"] == result.counts["matched_rows"]


def test_manifest_writer_takes_other_generators_entries(tmp_path: Path, data_dir: Path):
    sites = tmp_path / "sites.csv"
    sites.write_text("id\n", encoding="utf-8")
    bundle = load_manifest(None, data_dir).boundaries
    path = write_manifest(
        tmp_path / "sources.toml",
        Boundaries(bundle.municipalities.resolve(), bundle.regions, bundle.postcodes),
        [ManifestEntry("sites", sites, attribution='Synt. "master", æøå')],
        header="written by a test",
    )
    append_manifest_entries(path, [ManifestEntry("measurements", tmp_path / "m.csv")])
    manifest = load_manifest(path, data_dir)
    [site] = manifest.of("sites")
    assert site.path == sites and site.generated and site.attribution == 'Synt. "master", æøå'
    assert manifest.of("measurements")[0].generated
    assert manifest.boundaries.municipalities == bundle.municipalities.resolve()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--addresses", "0"], "--addresses 0"),
        (["--underserved", "0.9"], "--underserved 0.9"),
        (["--seed", "-1"], "--seed -1"),
        (["--sites", "many"], "--sites 'many'"),
        (["--sites", "0", "--measurements", "5"], "--measurements 5 with --sites 0"),
        (["--measurements", "-1"], "--measurements -1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "argv", ["netkort", "synth", "-o", str(tmp_path / "x"), *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_output_that_is_a_file_is_refused(tmp_path: Path, data_dir: Path):
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match="not a folder"):
        synthesize(target, data_dir, SynthOptions(addresses=10, mobile=NO_MOBILE))
