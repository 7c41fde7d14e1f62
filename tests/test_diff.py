"""What changed between two releases: the real Samsø bundle against a modified copy of it.

Release A is built from the bundle. Release B from copies written here: in the mapping three slow
addresses get fibre (two of them cross 100 Mbit/s), one fibre address is downgraded to xDSL, one
address gets faster mobile; in the register one address is removed and one added (Bryggerbakken 5,
whose mapping row matched nothing in A, given a slow line in B). Release C is B's inputs built again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from coverage.build import build_release
from coverage.cli import app
from coverage.diff import (
    CHANGE_KINDS,
    compare_sources,
    diff_releases,
    releases_to_compare,
    select_kinds,
    zone_changes,
)
from coverage.errors import InvalidRequestError, NetkortError, NotFoundError
from coverage.release import ReleaseStore
from coverage.settings import Settings
from coverage.sources import SourceFile, load_manifest
from coverage.types import WORK_CRS

RULES = "2024-2025"
NEW_ID = "11111111-2222-4333-8444-555555555555"
NEW_EAST, NEW_NORTH = 599230.0, 6188860.0
REGISTER = "dar/adgangsadresser_0741_samsoe.csv"
MAPPING = "bbk/bbk26_udbudt_8305_samsoe.csv"
runner = CliRunner()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set(frame: pd.DataFrame, street: str, number: str, **values: str) -> None:
    rows = (frame["vejnavn"] == street) & (frame["husnr"] == number)
    assert rows.sum() == 1, (street, number)
    for column, value in values.items():
        frame.loc[rows, column] = value


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> SimpleNamespace:
    """Releases A (bundle), B (modified copies) and C (B's inputs again) in one home."""
    tmp = tmp_path_factory.mktemp("diff")
    settings = Settings(data=data_dir, home=tmp / "home")
    manifest = load_manifest(None, data_dir)
    a = build_release(settings, manifest).release

    register = pd.read_csv(data_dir / REGISTER, dtype=str, keep_default_na=False)
    ids = {
        (s, n): i
        for i, s, n in zip(register["id"], register["vejnavn"], register["husnr"], strict=True)
    }
    removed = register.iloc[0]  # Aavej 10
    register = register.iloc[1:].copy()
    added = dict.fromkeys(register.columns, "")
    added |= {
        "id": NEW_ID,
        "vejnavn": "Bryggerbakken",
        "husnr": "5",
        "postnr": "8305",
        "postnrnavn": "Samsø",
        "kommunekode": "0741",
        "kommunenavn": "Samsø",
        "etrs89koordinat_øst": f"{NEW_EAST:.2f}",
        "etrs89koordinat_nord": f"{NEW_NORTH:.2f}",
    }
    register = pd.concat([register, pd.DataFrame([added])], ignore_index=True)
    register_path = tmp / "register.csv"
    register.to_csv(register_path, index=False)

    mapping = pd.read_csv(data_dir / MAPPING, dtype=str, keep_default_na=False)
    fibre = {"fiber_ned": "1000", "fiber_op": "1000", "xdsl_ned": "0"}
    _set(mapping, "Strandvejen", "52", **fibre)  # xDSL 30 -> fibre: fast, no longer eligible
    _set(mapping, "Skægsholm", "7", **fibre)  # xDSL 90 -> fibre (mobile 600: never eligible)
    _set(mapping, "Kongevejen", "9", **fibre)  # xDSL 100 -> fibre: faster, already fast
    _set(mapping, "Nørreskiftevej", "8", fiber_ned="0", fiber_op="0", xdsl_ned="20")
    _set(mapping, "Strandvejen", "3", mobil_ned="1000", mobil_op="50")
    _set(mapping, "Bryggerbakken", "5", fiber_ned="0", fiber_op="0", xdsl_ned="10", mobil_ned="200")
    mapping_path = tmp / "mapping.csv"
    mapping.to_csv(mapping_path, index=False)

    modified = manifest.with_files(
        "addresses", [SourceFile("addresses", register_path)]
    ).with_files("mapping", [SourceFile("mapping", mapping_path, profile="bbk-bundle", year=2026)])
    b = build_release(settings, modified).release
    c = build_release(settings, modified, force=True).release
    expected = {
        ids[("Strandvejen", "52")]: {"got_fast", "technology_changed", "stopped_being_eligible"},
        ids[("Skægsholm", "7")]: {"got_fast", "technology_changed"},
        ids[("Kongevejen", "9")]: {"fixed_up", "technology_changed"},
        ids[("Nørreskiftevej", "8")]: {"lost_fast", "technology_changed", "became_eligible"},
        ids[("Strandvejen", "3")]: {"mobile_up"},
        removed["id"]: {"removed_from_register"},
        NEW_ID: {"added_to_register"},
    }
    return SimpleNamespace(
        settings=settings,
        a=a,
        b=b,
        c=c,
        ids=ids,
        expected=expected,
        register_path=register_path,
        mapping_path=mapping_path,
        data_dir=data_dir,
    )


@pytest.fixture(scope="module")
def diff(pair: SimpleNamespace):
    return diff_releases(pair.a, pair.b, rule_set=RULES)


def _kinds(changes: pd.DataFrame) -> dict[str, set[str]]:
    return {
        i: set(k.split(";")) for i, k in zip(changes["address_id"], changes["kinds"], strict=True)
    }


# --------------------------------------------------------------------------------------------------
# Addresses and municipalities


def test_diff_names_exactly_the_changed_addresses_and_kinds(pair, diff):
    assert not diff.identical
    assert _kinds(diff.changes) == pair.expected
    primary = dict(zip(diff.changes["address_id"], diff.changes["kind"], strict=True))
    assert primary[pair.ids[("Strandvejen", "52")]] == "got_fast"
    assert primary[pair.ids[("Nørreskiftevej", "8")]] == "lost_fast"
    assert primary[NEW_ID] == "added_to_register"
    assert (diff.addresses_from, diff.addresses_to) == (4591, 4591)


def test_changed_addresses_carry_both_states_and_a_position(pair, diff):
    rows = diff.changes.set_index("address_id")
    s52 = rows.loc[pair.ids[("Strandvejen", "52")]]
    assert (s52["best_down_from"], s52["best_down_to"]) == (30.0, 1000.0)
    assert (s52["best_tech_from"], s52["best_tech_to"]) == ("xdsl", "fiber")
    assert (s52["class_from"], s52["class_to"]) == ("eligible_if_zone", "not_eligible")
    assert (s52["vejnavn"], s52["husnr"], s52["kommunekode"]) == ("Strandvejen", "52", "0741")
    assert s52.geometry.x == pytest.approx(602323.82)
    new = rows.loc[NEW_ID]
    assert (new.geometry.x, new.geometry.y) == pytest.approx((NEW_EAST, NEW_NORTH))
    assert pd.isna(new["best_down_from"]) and new["best_down_to"] == 10.0
    assert new["class_to"] == "eligible_if_zone" and pd.isna(new["class_from"])
    gone = rows.loc[next(i for i, k in pair.expected.items() if "removed_from_register" in k)]
    assert (gone["vejnavn"], gone["husnr"]) == ("Aavej", "10")
    assert gone.geometry.x == pytest.approx(602551.91)
    assert diff.changes.crs.to_epsg() == 25832
    assert not diff.changes["generated"].any() and not diff.generated


def test_counts_per_municipality(diff):
    counts = diff.counts.set_index("kommunekode")
    assert len(counts) == 19
    samsoe = counts.loc["0741"]
    assert samsoe["kommunenavn"] == "Samsø"
    expected = dict.fromkeys(CHANGE_KINDS, 0) | {
        "added_to_register": 1,
        "removed_from_register": 1,
        "got_fast": 2,
        "lost_fast": 1,
        "fixed_up": 1,
        "technology_changed": 4,
        "mobile_up": 1,
        "became_eligible": 1,
        "stopped_being_eligible": 1,
    }
    assert {k: int(samsoe[k]) for k in CHANGE_KINDS} == expected
    assert int(samsoe["changed"]) == 7
    others = counts.drop(index="0741")
    assert (others[[*CHANGE_KINDS, "changed"]] == 0).all().all()
    assert diff.totals() == expected | {"changed": 7}


def test_zone_changes_are_right(pair, diff):
    zones = diff.zones.set_index("zone_id")
    assert diff.zone_totals() == dict.fromkeys(
        ("new", "vanished", "grown", "shrunk", "reshaped", "merged", "split", "unchanged"), 0
    ) | {"grown": 1, "vanished": 1, "new": 1}
    # Nørreskiftevej 6 stays eligible; number 8, in the cell north of it, joins its zone.
    grown = zones.loc[f"0741-100m_61858_6016-{RULES}"]
    assert grown["change"] == "grown"
    assert (grown["addresses_from"], grown["addresses_to"]) == (1, 2)
    assert grown["lost_km2"] == pytest.approx(0.0)
    munis = pair.b.read("municipalities")
    samsoe = munis.geometry[munis["kommunekode"] == "0741"].iloc[0]
    cells = shapely.union_all(
        [
            shapely.box(601600, 6185800, 601700, 6185900),
            shapely.box(601600, 6185900, 601700, 6186000),
        ]
    )
    expected = shapely.intersection(cells, samsoe)
    assert shapely.area(shapely.symmetric_difference(grown.geometry, expected)) < 1e-3
    assert grown["gained_km2"] == pytest.approx(
        shapely.area(shapely.intersection(cells, samsoe)) / 1e6 - grown["area_km2_from"]
    )
    vanished = zones.loc[f"0741-100m_61875_6023-{RULES}"]  # Strandvejen 52 got fibre
    assert vanished["change"] == "vanished" and pd.isna(vanished["zone_id_to"])
    assert vanished["addresses_from"] == 1 and pd.isna(vanished["addresses_to"])
    new = zones.loc[f"0741-100m_61888_5992-{RULES}"]  # the added address on a slow line
    assert new["change"] == "new" and pd.isna(new["zone_id_from"])
    assert shapely.contains(new.geometry, shapely.points(NEW_EAST, NEW_NORTH))


def test_changed_sources_are_named_by_sha256(pair, diff):
    by_kind = {s.kind: s for s in diff.sources}
    assert by_kind["addresses"].status == "changed"
    assert by_kind["addresses"].sha256_from == _sha256(pair.data_dir / REGISTER)
    assert by_kind["addresses"].sha256_to == _sha256(pair.register_path)
    assert by_kind["mapping"].status == "changed"
    assert by_kind["mapping"].sha256_from == _sha256(pair.data_dir / MAPPING)
    assert by_kind["mapping"].sha256_to == _sha256(pair.mapping_path)
    unchanged = {k for k, s in by_kind.items() if s.status == "unchanged"}
    assert unchanged == {"municipalities", "regions", "postcodes", "sites", "osm"}
    assert by_kind["municipalities"].sha256_to == _sha256(pair.data_dir / "dagi/kommuner.geojson")


def test_byte_identical_inputs_are_reported_as_identical(pair):
    same = diff_releases(pair.b, pair.c, rule_set=RULES)
    assert same.identical
    assert len(same.changes) == 0 and len(same.zones) == 0
    assert same.totals() == dict.fromkeys((*CHANGE_KINDS, "changed"), 0)
    assert len(same.counts) == 19 and int(same.counts["changed"].sum()) == 0
    assert {s.status for s in same.sources} == {"unchanged"}
    assert diff_releases(pair.a, pair.a).identical


def test_without_rules_speeds_are_compared_but_not_classes(pair):
    plain = diff_releases(pair.a, pair.b)
    expected = {
        i: kinds - {"became_eligible", "stopped_being_eligible"}
        for i, kinds in pair.expected.items()
    }
    assert _kinds(plain.changes) == expected
    assert plain.changes["class_from"].isna().all() and plain.changes["class_to"].isna().all()
    assert len(plain.zones) == 0 and plain.rule_set is None


def test_municipality_filter(pair, diff):
    by_name = diff_releases(pair.a, pair.b, rule_set=RULES, municipalities=["samsø"])
    assert by_name.municipalities == ["0741"]
    assert _kinds(by_name.changes) == pair.expected
    assert by_name.counts["kommunekode"].tolist() == ["0741"]
    aarhus = diff_releases(pair.a, pair.b, rule_set=RULES, municipalities=["751"])
    assert len(aarhus.changes) == 0 and len(aarhus.zones) == 0
    assert aarhus.counts["kommunekode"].tolist() == ["0751"]
    with pytest.raises(NotFoundError, match="'Samsoe by'") as caught:
        diff_releases(pair.a, pair.b, municipalities=["Samsoe by"])
    assert caught.value.suggestions[0] == {"id": "0741", "text": "0741 Samsø"}


def test_select_kinds(diff):
    fast = select_kinds(diff.changes, ["got_fast", "lost_fast"])
    assert len(fast) == 3
    assert all({"got_fast", "lost_fast"} & set(k.split(";")) for k in fast["kinds"])
    assert len(select_kinds(diff.changes, None)) == 7
    with pytest.raises(InvalidRequestError, match="'fast'"):
        select_kinds(diff.changes, ["fast"])


def test_default_pair_is_previous_and_current(pair):
    store = ReleaseStore(pair.settings.home)
    older, newer = releases_to_compare(store)
    assert (older.id, newer.id) == (pair.b.id, pair.c.id)
    assert releases_to_compare(store, pair.a.id)[1].id == pair.c.id
    with pytest.raises(NotFoundError, match="no release 'nope'"):
        releases_to_compare(store, "nope")
    lonely = ReleaseStore(pair.settings.home.parent / "lonely")
    with pytest.raises(Exception, match="netkort build"):
        releases_to_compare(lonely)


# --------------------------------------------------------------------------------------------------
# Zones and sources, on small layers made here


def _zones(rows: list[tuple[str, shapely.Geometry, int]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "zone_id": [r[0] for r in rows],
            "kommunekode": "0741",
            "addresses": [r[2] for r in rows],
            "generated": False,
        },
        geometry=[shapely.multipolygons([r[1]]) for r in rows],
        crs=WORK_CRS,
    )


def test_zone_changes_pair_by_id_then_by_overlap():
    box = shapely.box
    older = _zones(
        [
            ("grows", box(0, 0, 100, 100), 1),
            ("same", box(1000, 0, 1100, 100), 2),
            ("gone", box(2000, 0, 2100, 100), 1),
            ("left", box(3000, 0, 3100, 100), 1),
            ("right", box(3200, 0, 3300, 100), 1),
            ("whole", box(5000, 0, 5200, 100), 2),
            ("moves", box(7000, 0, 7100, 100), 1),
            ("fills", box(8000, 0, 8100, 100), 1),
            ("old-anchor", box(9000, 0, 9100, 100), 1),
            ("keeps-id", box(20000, 0, 20100, 100), 1),
            ("absorbed", box(20200, 0, 20300, 100), 1),
            ("big", box(22000, 0, 22300, 100), 2),
        ]
    )
    newer = _zones(
        [
            ("grows", box(0, 0, 200, 100), 2),
            ("same", box(1000, 0, 1100, 100), 2),
            ("joined", box(3000, 0, 3300, 100), 3),
            ("half", box(5000, 0, 5100, 100), 1),
            ("other-half", box(5100, 0, 5200, 100), 1),
            ("moves", box(7050, 0, 7150, 100), 1),
            ("fills", box(8000, 0, 8100, 100), 4),
            ("new-anchor", box(9000, -100, 9100, 100), 2),
            ("fresh", box(12000, 0, 12100, 100), 1),
            ("keeps-id", box(20000, 0, 20300, 100), 2),
            ("big", box(22000, 0, 22100, 100), 1),
            ("piece", box(22200, 0, 22300, 100), 1),
        ]
    )
    result = zone_changes(older, newer)
    got = {
        (f if isinstance(f, str) else None, t if isinstance(t, str) else None): c
        for f, t, c in zip(
            result["zone_id_from"], result["zone_id_to"], result["change"], strict=True
        )
    }
    assert got == {
        ("grows", "grows"): "grown",
        ("same", "same"): "unchanged",
        ("gone", None): "vanished",
        ("left", "joined"): "grown",
        ("right", None): "merged",
        ("whole", "half"): "shrunk",
        (None, "other-half"): "split",
        ("moves", "moves"): "reshaped",
        ("fills", "fills"): "grown",
        ("old-anchor", "new-anchor"): "grown",
        (None, "fresh"): "new",
        ("keeps-id", "keeps-id"): "grown",
        ("absorbed", None): "merged",  # into a zone paired by its id
        ("big", "big"): "shrunk",
        (None, "piece"): "split",
    }
    grows = result.set_index("zone_id").loc["grows"]
    assert grows["gained_km2"] == pytest.approx(0.01) and grows["lost_km2"] == 0
    moves = result.set_index("zone_id").loc["moves"]
    assert moves["gained_km2"] == pytest.approx(0.005) and moves["lost_km2"] == pytest.approx(0.005)
    gone = result.set_index("zone_id").loc["gone"]
    assert shapely.equals(gone.geometry, box(2000, 0, 2100, 100))
    assert zone_changes(older.iloc[:0], newer.iloc[:0]).empty


def test_compare_sources_pairs_by_bytes_then_path():
    def entry(kind: str, path: str, sha: str) -> dict[str, str]:
        return {"kind": kind, "path": path, "sha256": sha * 64}

    older = [
        entry("mapping", "/a/bbk.csv", "1"),
        entry("addresses", "/a/dar.csv", "2"),
        entry("sites", "/a/masts.csv", "3"),
    ]
    newer = [
        entry("mapping", "/b/other-name.csv", "1"),  # moved and renamed, same bytes
        entry("addresses", "/a/dar.csv", "4"),
        entry("zones", "/a/zones.gpkg", "5"),
    ]
    result = {(c.kind, c.status, c.path_from, c.path_to) for c in compare_sources(older, newer)}
    assert result == {
        ("mapping", "unchanged", "/a/bbk.csv", "/b/other-name.csv"),
        ("addresses", "changed", "/a/dar.csv", "/a/dar.csv"),
        ("sites", "removed", "/a/masts.csv", None),
        ("zones", "added", None, "/a/zones.gpkg"),
    }


# --------------------------------------------------------------------------------------------------
# The command line


def test_cli_json_names_the_changes(pair):
    result = runner.invoke(
        app,
        [
            "diff",
            pair.a.id,
            pair.b.id,
            "--rules",
            RULES,
            "--json",
            "--home",
            str(pair.settings.home),
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["from"], answer["to"], answer["rule_set"]) == (pair.a.id, pair.b.id, RULES)
    assert {c["address_id"]: set(c["kinds"].split(";")) for c in answer["changes"]} == pair.expected
    new = next(c for c in answer["changes"] if c["address_id"] == NEW_ID)
    assert (new["east"], new["north"]) == (NEW_EAST, NEW_NORTH)
    assert 10.5 < new["lon"] < 10.8 and 55.7 < new["lat"] < 56.0
    assert answer["totals"]["changed"] == 7
    assert {z["change"] for z in answer["zones"]} == {"grown", "vanished", "new"}


def test_cli_default_compares_previous_and_current(pair):
    result = runner.invoke(app, ["diff", "--json", "--home", str(pair.settings.home)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["from"], answer["to"]) == (pair.b.id, pair.c.id)
    assert answer["identical"] is True and answer["changes"] == []
    table = runner.invoke(app, ["diff", "--home", str(pair.settings.home)])
    assert "identical" in table.output and "Nothing changed" in table.output


def test_cli_table_and_kind_filter(pair):
    result = runner.invoke(
        app,
        ["diff", pair.a.id, pair.b.id, "--kind", "lost_fast", "--home", str(pair.settings.home)],
    )
    assert result.exit_code == 0, result.output
    assert "0741" in result.output and "Samsø" in result.output
    assert "Nørreskiftevej 8" in result.output and "lost fast" in result.output
    assert "Strandvejen 52" not in result.output  # filtered out of the address list
    assert "Zones:" in result.output


def test_cli_exports_gpkg_and_csv(pair, tmp_path):
    target = tmp_path / "changes.gpkg"
    result = runner.invoke(
        app,
        ["diff", pair.a.id, pair.b.id, "-o", str(target), "--home", str(pair.settings.home), "-q"],
    )
    assert result.exit_code == 0, result.output
    layers = dict(pyogrio.list_layers(target))
    assert layers["changed_addresses"] == "Point" and layers["zone_changes"] == "MultiPolygon"
    read = pyogrio.read_dataframe(target, layer="changed_addresses")
    assert set(read["address_id"]) == set(pair.expected)
    assert read.crs.to_epsg() == 25832
    zones = pyogrio.read_dataframe(target, layer="zone_changes")
    assert sorted(zones["change"]) == ["grown", "new", "vanished"]
    meta = pyogrio.read_dataframe(target, layer="metadata").set_index("key")["value"]
    filters = json.loads(meta["filters"])
    assert (filters["diff_from"], filters["diff_to"]) == (pair.a.id, pair.b.id)
    assert {s["kind"] for s in filters["sources_changed"]} == {"addresses", "mapping"}

    csv = tmp_path / "changes.csv"
    home = ["--home", str(pair.settings.home), "-q"]
    result = runner.invoke(
        app, ["diff", pair.a.id, pair.b.id, "-o", str(csv), "-k", "got_fast", *home]
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "changes-changed_addresses.csv", dtype=str, encoding="utf-8-sig")
    assert set(rows["address_id"]) == {i for i, k in pair.expected.items() if "got_fast" in k}
    assert set(rows.columns) >= {"east", "north", "lon", "lat", "kinds"}
    sidecar = json.loads((tmp_path / "changes.csv.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["filters"]["kinds"] == ["got_fast"] and sidecar["release_id"] == pair.b.id


def test_cli_bad_input_is_one_line_and_exit_2(pair):
    code = "from coverage.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "diff", "-m", "9999", "--home", str(pair.settings.home)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("netkort: error: unknown municipality '9999'")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    # The others raise a library error, which main() turns into the same one line and exit 2.
    home = ["--home", str(pair.settings.home)]
    for args, message in (
        (["--kind", "fast"], "unknown change kind 'fast'"),
        (["--rules", "1999"], "no rule set covers 1999"),
        (["nope"], "no release 'nope'"),
        (["--format", "gpkg"], "--format needs --output"),
        (["-o", "out.txt"], "cannot tell the format"),
    ):
        result = runner.invoke(app, ["diff", *args, *home])
        assert isinstance(result.exception, NetkortError), (args, result.output)
        assert message in str(result.exception)


# --------------------------------------------------------------------------------------------------
# The service


@pytest.fixture(scope="module")
def client(pair):
    from service.main import create_app  # includes every route module, service.routes.changes too
    from service.settings import ServiceSettings

    service = create_app(ServiceSettings(data=pair.data_dir, home=pair.settings.home))
    with TestClient(service) as test_client:
        yield test_client


def test_api_changes_between_named_releases(pair, client):
    answer = client.get(
        "/api/changes", params={"from": pair.a.id, "to": pair.b.id, "rules": "2025"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["rule_set"]) == (pair.a.id, pair.b.id, RULES)
    features = body["changes"]["features"]
    assert {f["id"]: set(f["properties"]["kinds"].split(";")) for f in features} == pair.expected
    lon, lat = next(f for f in features if f["id"] == NEW_ID)["geometry"]["coordinates"]
    assert 10.5 < lon < 10.8 and 55.7 < lat < 56.0
    samsoe = next(c for c in body["counts"] if c["kommunekode"] == "0741")
    assert samsoe["changed"] == 7 and samsoe["kinds"]["technology_changed"] == 4
    zones = {f["properties"]["change"]: f for f in body["zones"]["features"]}
    assert set(zones) == {"grown", "vanished", "new"} and body["zones_matched"] == 3
    assert zones["grown"]["geometry"]["type"] == "MultiPolygon"
    assert {s["kind"] for s in body["sources"] if s["status"] == "changed"} == {
        "addresses",
        "mapping",
    }
    assert all("/" not in (s["file_to"] or "") for s in body["sources"])


def test_api_changes_default_filters_and_errors(pair, client):
    default = client.get("/api/changes").json()
    assert (default["from"], default["to"], default["identical"]) == (pair.b.id, pair.c.id, True)
    assert default["changes"]["features"] == []
    limited = client.get(
        "/api/changes",
        params={"from": pair.a.id, "to": pair.b.id, "kind": "got_fast", "limit": 1},
    ).json()
    assert (limited["matched"], limited["truncated"], len(limited["changes"]["features"])) == (
        2,
        True,
        1,
    )
    schema = client.get("/openapi.json").json()
    assert "/api/changes" in schema["paths"]
    speeds = client.get(
        "/api/changes", params={"from": pair.a.id, "to": pair.b.id, "rules": "none"}
    ).json()
    assert speeds["rule_set"] is None and speeds["zones"]["features"] == []
    unknown = client.get("/api/changes", params={"municipality": "9999"})
    assert unknown.status_code == 404 and unknown.json()["suggestions"]
    assert client.get("/api/changes", params={"from": "nope"}).status_code == 404
    assert (
        client.get("/api/changes", params={"kind": "fast"}).status_code == 422
    )  # not an enum value
    assert client.get("/api/changes", params={"rules": "1999"}).status_code == 404
    assert client.get("/api/changes", params={"limit": -1}).status_code == 422


def test_a_larger_pair_is_diffed_in_seconds(tmp_path, pair):
    """Samsø thirteen times over (about 60,000 addresses), 5 % of the mapping rows downgraded."""
    src, copies = pair.a, 13
    addresses, availability = src.read("addresses"), src.read("availability")

    def widen(ids: pd.Series) -> pd.Series:  # a distinct id per copy: the copy number up front
        copy = np.repeat(np.arange(copies), len(ids) // copies)
        return (pd.Series(copy).map("{:04d}".format) + ids.str[4:]).astype("string")

    big = gpd.GeoDataFrame(pd.concat([addresses] * copies, ignore_index=True), crs=WORK_CRS)
    big["id"] = widen(big["id"])
    assert big["id"].is_unique
    before = pd.concat([availability] * copies, ignore_index=True)
    before["address_id"] = widen(before["address_id"])
    after = before.copy()
    slow = np.random.default_rng(1).random(len(after)) < 0.05
    after.loc[slow, ["fiber_down", "fiber_up", "coax_down", "fwa_down"]] = np.float32(0)
    after.loc[slow, "xdsl_down"] = np.float32(20)
    store = ReleaseStore(tmp_path / "home")
    for rid, mapping in (("20260101T000000Z-a", before), ("20260102T000000Z-b", after)):
        with store.writer(rid) as w:
            for name in ("municipalities", "region", "postcodes"):
                w.write_table(name, src.read(name))
            w.write_table("addresses", big)
            w.write_table("availability", mapping)
            w.manifest |= {"municipalities": src.manifest["municipalities"], "inputs_digest": rid}
    started = time.perf_counter()
    result = diff_releases(*store.list(), rule_set=RULES)
    elapsed = time.perf_counter() - started
    best_before = before[["fiber_down", "coax_down", "xdsl_down", "fwa_down"]].max(axis=1)
    lost = slow & (best_before >= 100).to_numpy() & before["address_id"].notna().to_numpy()
    assert set(select_kinds(result.changes, ["lost_fast"])["address_id"]) == set(
        before.loc[lost, "address_id"]
    )
    assert result.addresses_to == len(big) > 59_000
    assert elapsed < 10, f"{elapsed:.1f} s"
