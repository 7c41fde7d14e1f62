"""Exports in every format, read back with the readers GIS tools use; metadata; atomic writes."""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from typer.testing import CliRunner

from coverage import export_formats as export_module
from coverage.cli import app, main
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.export import (
    FORMATS,
    GENERATED_NOTE,
    ExportMetadata,
    address_text,
    build_layers,
    export,
    format_from_path,
    resolve_municipalities,
    shapefile_field_names,
)
from coverage.rules import get_rule_set
from coverage.types import DENMARK_BOUNDS_LONLAT

STREETS = ["Ærøvej", "Møllegårdsvej", "Åhøjvej", "Strandvejen"]
runner = CliRunner()
LONG_REASON = json.dumps(
    [{"criterion": "fixed_down", "value": 10, "threshold": 100, "outcome": "pass"}] * 6
)  # longer than a DBF text field (254 bytes)


def address_layer(generated: bool = False) -> gpd.GeoDataFrame:
    n = len(STREETS)
    east = np.array([602551.91, 603000.0, 604100.5, 605200.25])
    north = np.array([6186812.07, 6187000.0, 6188100.5, 6189200.75])
    frame = pd.DataFrame(
        {
            "id": [f"0a3f5095-4215-32b8-e044-00000000000{i}" for i in range(n)],
            "vejnavn": pd.array(STREETS, dtype="string"),
            "husnr": pd.array(["10A", "2", "7", "1"], dtype="string"),
            "supplerendebynavn": pd.array(["Besser", "", "", "Ørby"], dtype="string"),
            "postnr": pd.array(["8305"] * n, dtype="string"),
            "postnrnavn": pd.array(["Samsø"] * n, dtype="string"),
            "kommunekode": pd.array(["0741"] * n, dtype="string"),
            "east": east,
            "north": north,
            "best_down": [10.0, 50.0, np.nan, 1000.0],
            # The assessment gives labels and reasons as Categoricals (few distinct values).
            "class": pd.Categorical(["eligible", "eligible_if_zone", "no_data", "not_eligible"]),
            "reasons": pd.Categorical([LONG_REASON, "[]", "[]", "[]"]),
            "reason_da": ["Under 100 Mbit/s på fastnet", "Zonen er ukendt", "Ingen data", "Øh"],
            "generated": [generated, False, False, False],
        }
    )
    frame.insert(1, "address", address_text(frame))
    return gpd.GeoDataFrame(frame, geometry=shapely.points(east, north), crs="EPSG:25832")


def zone_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "zone_id": ["0741-100m_61868_6025-2025", "0741-100m_61870_6030-2025"],
            "kommunenavn": ["Samsø", "Samsø"],
            "addresses": [3, 1],
            "median_fixed_down": [20.0, np.nan],
        },
        geometry=[
            shapely.MultiPolygon([shapely.box(602500, 6186800, 602700, 6186900)]),
            shapely.MultiPolygon([shapely.box(603000, 6187000, 603100, 6187100)]),
        ],
        crs="EPSG:25832",
    )


def stats_table() -> pd.DataFrame:
    return pd.DataFrame({"kommunenavn": ["Samsø"], "addresses": [4591], "share_100": [0.999]})


META = ExportMetadata(
    release_id="20260101T000000Z-abcdef12",
    rule_set_id="2024-2025",
    rule_set_title={"da": "Bredbåndspuljen 2024-2025", "en": "Broadband pool 2024-2025"},
    sources=({"kind": "mapping", "file": "bbk26_udbudt_8305_samsoe.csv", "sha256": "ab" * 32},),
    attribution=("Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026",),
    filters={"municipalities": ["0741"]},
)


def check_meta(meta: dict) -> None:
    assert meta["release_id"] == META.release_id
    assert meta["rule_set_id"] == "2024-2025"
    assert meta["rule_set_title"]["da"] == "Bredbåndspuljen 2024-2025"
    assert meta["attribution"] == ["Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026"]
    assert meta["sources"][0]["file"] == "bbk26_udbudt_8305_samsoe.csv"
    assert meta["filters"] == {"municipalities": ["0741"]}
    assert meta["created"].endswith("+00:00") and meta["netkort_version"]


def same_rows(read: pd.DataFrame, original: pd.DataFrame, key: str = "id") -> None:
    """Rows, keys, street names and the class survive (formats may reorder rows)."""
    read = read.sort_values(key).reset_index(drop=True)
    original = original.sort_values(key).reset_index(drop=True)
    assert read[key].tolist() == original[key].tolist()
    if "vejnavn" in original:
        assert read["vejnavn"].tolist() == original["vejnavn"].tolist()
        assert read["class"].tolist() == original["class"].tolist()


def no_leftovers(folder: Path, expected: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == expected


def test_gpkg_holds_every_layer_and_a_metadata_table(tmp_path):
    layers = {"addresses": address_layer(), "zones": zone_layer(), "stats": stats_table()}
    files = export(layers, "gpkg", tmp_path / "out.gpkg", META)
    assert files == [tmp_path / "out.gpkg"]
    no_leftovers(tmp_path, {"out.gpkg"})
    listed = dict(pyogrio.list_layers(files[0]).tolist())
    assert listed == {
        "addresses": "Point",
        "zones": "MultiPolygon",
        "stats": None,
        "metadata": None,
    }
    read = pyogrio.read_dataframe(files[0], layer="addresses")
    assert read.crs.to_epsg() == 25832
    same_rows(read, layers["addresses"])
    assert (
        read["reasons"].iloc[read["id"].tolist().index(layers["addresses"]["id"][0])] == LONG_REASON
    )
    zones = pyogrio.read_dataframe(files[0], layer="zones")
    assert shapely.equals(zones.geometry.to_numpy(), zone_layer().geometry.to_numpy()).all()
    table = pyogrio.read_dataframe(files[0], layer="metadata", read_geometry=False)
    meta = dict(zip(table["key"], table["value"], strict=True))
    check_meta({k: v if k in ("release_id", "rule_set_id", "created", "netkort_version") else
                json.loads(v) for k, v in meta.items() if k != "note"})  # fmt: skip
    assert json.loads(meta["layers"]) == {"addresses": 4, "zones": 2, "stats": 1}


def test_geojson_is_rfc7946_lonlat_with_a_netkort_member(tmp_path):
    files = export({"eligible": address_layer()}, None, tmp_path / "eligible.geojson", META)
    assert files == [tmp_path / "eligible.geojson"]
    doc = json.loads(files[0].read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    check_meta(doc["netkort"])
    assert doc["netkort"]["layer"] == "eligible"
    assert "crs" not in doc  # RFC 7946: lon/lat WGS84 only, no crs member
    xmin, ymin, xmax, ymax = DENMARK_BOUNDS_LONLAT
    lon, lat = doc["features"][0]["geometry"]["coordinates"]
    assert xmin < lon < xmax and ymin < lat < ymax
    read = pyogrio.read_dataframe(files[0])
    assert read.crs.to_epsg() == 4326
    same_rows(read, address_layer())
    back = read.to_crs(25832).sort_values("id")
    assert np.allclose(back.geometry.x, address_layer().sort_values("id")["east"], atol=0.05)


def test_geojson_writes_one_file_per_layer(tmp_path):
    layers = {"addresses": address_layer(), "zones": zone_layer()}
    files = export(layers, "geojson", tmp_path / "samsoe.geojson", META)
    assert [f.name for f in files] == ["samsoe-addresses.geojson", "samsoe-zones.geojson"]
    zones = pyogrio.read_dataframe(files[1])
    assert len(zones) == 2 and zones.crs.to_epsg() == 4326
    assert json.loads(files[1].read_text(encoding="utf-8"))["netkort"]["layer"] == "zones"


def test_flatgeobuf_keeps_metadata_in_its_header(tmp_path):
    layers = {"addresses": address_layer(), "stats": stats_table()}
    files = export(layers, "fgb", tmp_path / "x.fgb", META)
    assert [f.name for f in files] == ["x-addresses.fgb", "x-stats.fgb"]
    info = pyogrio.read_info(files[0])
    check_meta(json.loads(info["layer_metadata"]["netkort"]))
    assert info["crs"] == "EPSG:25832" and info["features"] == 4
    same_rows(pyogrio.read_dataframe(files[0]), layers["addresses"])
    stats = pyogrio.read_dataframe(files[1])
    assert stats["kommunenavn"].tolist() == ["Samsø"] and stats["addresses"].tolist() == [4591]


def test_geoparquet_keeps_metadata_in_key_value_metadata(tmp_path):
    layers = {"addresses": address_layer(), "stats": stats_table()}
    files = export(layers, "parquet", tmp_path / "x.parquet", META)
    schema = pq.read_schema(files[0])
    assert b"geo" in schema.metadata
    check_meta(json.loads(schema.metadata[b"netkort"]))
    read = gpd.read_parquet(files[0])
    assert read.crs.to_epsg() == 25832
    same_rows(read, layers["addresses"])
    assert shapely.equals(read.geometry.to_numpy(), layers["addresses"].geometry.to_numpy()).all()
    stats = pq.read_table(files[1])
    assert json.loads(stats.schema.metadata[b"netkort"])["layer"] == "stats"
    assert stats.column("kommunenavn").to_pylist() == ["Samsø"]


def test_zipped_shapefile_keeps_danish_letters_and_maps_field_names(tmp_path):
    layers = {"addresses": address_layer(), "zones": zone_layer()}
    files = export(layers, "shp", tmp_path / "pulje.shp", META)
    assert [f.name for f in files] == ["pulje.shp.zip", "pulje.shp.zip.metadata.json"]
    no_leftovers(tmp_path, {"pulje.shp.zip", "pulje.shp.zip.metadata.json"})
    with zipfile.ZipFile(files[0]) as archive:
        names = set(archive.namelist())
        assert archive.read("addresses.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        assert f"addresses.{ext}" in names and f"zones.{ext}" in names
    sidecar = json.loads(files[1].read_text(encoding="utf-8"))
    check_meta(sidecar)
    mapping = sidecar["fields"]["addresses"]
    assert mapping["kommunekod"] == "kommunekode"
    assert mapping["supplerend"] == "supplerendebynavn"
    assert all(len(short) <= 10 for short in mapping)
    read = pyogrio.read_dataframe(f"/vsizip/{files[0]}", layer="addresses")
    assert read.crs.to_epsg() == 25832
    read = read.rename(columns=mapping)
    same_rows(read, layers["addresses"])
    assert "Ørby" in set(read["supplerendebynavn"])
    # The long reasons text was cut at 254 bytes, and the sidecar says so.
    assert sidecar["truncated_to_254_bytes"] == {"addresses": {"reasons": 1}}
    assert max(len(r.encode()) for r in read["reasons"]) == 254


def test_csv_has_bom_both_crs_and_a_sidecar(tmp_path):
    files = export({"eligible_addresses": address_layer()}, "csv", tmp_path / "e.csv", META)
    assert [f.name for f in files] == ["e.csv", "e.csv.metadata.json"]
    raw = files[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with files[0].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    first = rows[0]
    assert list(first)[:3] == ["id", "address", "vejnavn"]
    assert first["address"] == "Ærøvej 10A, Besser, 8305 Samsø"
    assert rows[1]["address"] == "Møllegårdsvej 2, 8305 Samsø"
    assert float(first["east"]) == pytest.approx(602551.91)
    assert float(first["north"]) == pytest.approx(6186812.07)
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(602551.91, 6186812.07)
    assert float(first["lon"]) == pytest.approx(lon, abs=1e-7)
    assert float(first["lat"]) == pytest.approx(lat, abs=1e-7)
    assert first["class"] == "eligible" and json.loads(first["reasons"])[0]["threshold"] == 100
    assert [r["vejnavn"] for r in rows] == STREETS
    assert "geometry" not in first
    check_meta(json.loads(files[1].read_text(encoding="utf-8")))


def test_csv_of_polygons_carries_wkt(tmp_path):
    files = export({"zones": zone_layer()}, "csv", tmp_path / "z.csv", META)
    with files[0].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    geom = shapely.from_wkt(rows[0]["wkt_25832"])
    assert shapely.equals(geom, zone_layer().geometry.iloc[0])


def test_generated_records_raise_the_flag_and_the_note_everywhere(tmp_path):
    layers = {"addresses": address_layer(generated=True)}
    export(layers, "geojson", tmp_path / "g.geojson", META)
    doc = json.loads((tmp_path / "g.geojson").read_text(encoding="utf-8"))
    assert doc["netkort"]["generated"] is True and doc["netkort"]["note"] == GENERATED_NOTE
    export(layers, "csv", tmp_path / "g.csv", META)
    assert "GENERATED" in json.loads((tmp_path / "g.csv.metadata.json").read_text())["note"]
    export({"addresses": address_layer()}, "csv", tmp_path / "r.csv", META)
    real = json.loads((tmp_path / "r.csv.metadata.json").read_text())
    assert real["generated"] is False and real["note"] is None


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_danish_letters_survive_every_format(tmp_path, fmt):
    target = tmp_path / f"out{FORMATS[fmt]}"
    files = export({"addresses": address_layer()}, fmt, target, META)
    data = files[0]
    if fmt == "csv":
        read = pd.read_csv(data, encoding="utf-8-sig", dtype=str)
    elif fmt == "parquet":
        read = gpd.read_parquet(data)
    elif fmt == "shp":
        read = pyogrio.read_dataframe(f"/vsizip/{data}").rename(columns={"supplerend": "supp"})
    else:
        read = pyogrio.read_dataframe(data, layer="addresses")
    assert sorted(read["vejnavn"]) == sorted(STREETS)


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "fgb", "shp", "csv"])
def test_a_failing_writer_leaves_no_file_under_the_final_name(tmp_path, monkeypatch, fmt):
    target = tmp_path / f"out{FORMATS[fmt]}"
    calls = []

    def write_half_then_fail(frame, path, *args, **kwargs):
        Path(path).write_text("half a file", encoding="utf-8")  # on disk when the failure strikes
        calls.append(path)
        raise OSError("disk full")

    if fmt == "csv":
        monkeypatch.setattr(pd.DataFrame, "to_csv", write_half_then_fail)
    else:
        real = pyogrio.write_dataframe

        def write_once_then_fail(frame, path, *args, **kwargs):
            if calls:  # the first layer is written whole, the second fails half-way
                write_half_then_fail(frame, path)
            calls.append(path)
            return real(frame, path, *args, **kwargs)

        monkeypatch.setattr(export_module.pyogrio, "write_dataframe", write_once_then_fail)
    with pytest.raises(InvalidRequestError, match="cannot write the export: disk full"):
        export({"a": address_layer(), "b": zone_layer()}, fmt, target, META)
    assert calls, "the writer was never reached"
    no_leftovers(tmp_path, set())


def test_a_failing_parquet_export_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out.parquet"
    export({"addresses": address_layer()}, "parquet", target, META)
    before = target.read_bytes()

    real = pq.write_table

    def fail(table, where, **kwargs):
        if not isinstance(where, str | Path):  # geopandas writing to its in-memory buffer
            return real(table, where, **kwargs)
        Path(where).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(export_module.pq, "write_table", fail)
    with pytest.raises(InvalidRequestError, match="disk full"):
        export({"addresses": address_layer(generated=True)}, "parquet", target, META)
    assert target.read_bytes() == before
    no_leftovers(tmp_path, {"out.parquet"})


def test_an_unwritable_target_is_a_user_error(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(InvalidRequestError, match=r"afile/out\.gpkg: cannot write"):
        export({"a": zone_layer()}, "gpkg", tmp_path / "afile" / "out.gpkg", META)


def test_unknown_formats_and_suffixes_are_user_errors(tmp_path):
    with pytest.raises(InvalidRequestError, match="gpkg, geojson, fgb, parquet, shp, csv"):
        export({"a": zone_layer()}, "kml", tmp_path / "a.kml", META)
    with pytest.raises(InvalidRequestError, match="cannot tell the format"):
        export({"a": zone_layer()}, None, tmp_path / "a.kml", META)
    assert format_from_path("x.GPKG") == "gpkg"
    assert format_from_path("x.shp.zip") == "shp"
    assert format_from_path("x.json") == "geojson"
    assert not list(tmp_path.iterdir())


def test_shapefile_field_names_are_short_unique_and_deterministic():
    columns = ["kommunekode", "kommunekode_navn", "kommunekodeX", "bælte", "median_fixed_down"]
    names = shapefile_field_names(columns)
    assert names == {
        "kommunekode": "kommunekod",
        "kommunekode_navn": "kommunek_1",
        "kommunekodeX": "kommunek_2",
        "bælte": "baelte",
        "median_fixed_down": "median_fix",
    }
    assert shapefile_field_names(columns) == names


def test_municipality_codes_and_names_resolve_or_list_the_valid_ones():
    munis = pd.DataFrame({"kommunekode": ["0741", "0751"], "kommunenavn": ["Samsø", "Aarhus"]})
    assert resolve_municipalities(munis, None) is None
    assert resolve_municipalities(munis, ["741", "samsø", "Aarhus"]) == ["0741", "0751"]
    with pytest.raises(NotFoundError, match="0741 Samsø, 0751 Aarhus") as caught:
        resolve_municipalities(munis, ["0999"])
    assert {"kommunekode": "0751", "kommunenavn": "Aarhus"} in caught.value.suggestions


# --------------------------------------------------------------------------------------------------
# On the real bundle: Samsø under the 2024-2025 rules

ELIGIBLE = {"eligible", "eligible_blue", "eligible_if_zone"}


def samsoe_under(bundle_release, fixed_below: float, mobile_below: float | None) -> set[str]:
    """Address ids under a speed test, computed straight from the release's mapping table."""
    table = bundle_release.read("availability")
    fixed = table[["fiber_down", "coax_down", "xdsl_down", "fwa_down"]].max(axis=1, skipna=True)
    hit = fixed < fixed_below
    if mobile_below is not None:
        hit &= table["mobile_down"] < mobile_below
    return set(table.loc[hit & table["address_id"].notna(), "address_id"])


def test_eligible_addresses_on_samsoe_under_2025(bundle_release, tmp_path):
    layers = build_layers(bundle_release, "eligible-addresses", "2025", ["0741"])
    eligible = layers["eligible_addresses"]
    expected = samsoe_under(bundle_release, 100, 600)
    assert len(expected) == 2  # DOMAIN.md: 2 rows meet the 2025 speed test, both matched
    assert set(eligible["id"]) == expected
    # The bundle's register has no zones: the answer is "eligible if the zone rule holds".
    assert set(eligible["class"]) == {"eligible_if_zone"}
    assert all(json.loads(r)[0]["criterion"] for r in eligible["reasons"])
    assert (eligible["best_down"] < 100).all() and (eligible["mobile_down"] < 600).all()

    rules = get_rule_set("2025")
    meta = ExportMetadata.for_release(bundle_release, rule_set=rules, filters={"k": ["0741"]})
    files = export(layers, "gpkg", tmp_path / "samsoe.gpkg", meta)
    read = pyogrio.read_dataframe(files[0], layer="eligible_addresses")
    assert set(read["id"]) == expected and read.crs.to_epsg() == 25832
    assert all(a.endswith("8305 Samsø") for a in read["address"])
    table = pyogrio.read_dataframe(files[0], layer="metadata", read_geometry=False)
    stored = dict(zip(table["key"], table["value"], strict=True))
    assert stored["rule_set_id"] == "2024-2025" and stored["release_id"] == bundle_release.id
    attribution = json.loads(stored["attribution"])
    assert "Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026" in attribution
    assert "© OpenStreetMap contributors, ODbL" in attribution
    assert json.loads(stored["generated"]) is False


def test_threshold_zones_and_grid_on_samsoe(bundle_release):
    layers = build_layers(bundle_release, "all", "2025", ["Samsø"], fixed_below="100")
    below = samsoe_under(bundle_release, 100, None)
    assert set(layers["addresses"]["id"]) == below  # the threshold narrows the address layer
    zones = layers["zones"]
    assert zones["addresses"].sum() == len(below)
    assert set(zones["label"]) == {"fixed<100"}
    assert zones["zone_id"].is_unique and set(zones["kommunekode"]) == {"0741"}
    grid = layers["grid_1km"]
    assert grid["addresses"].sum() == 4591
    assert grid["cell"].str.startswith("1km_").all()
    stats = layers["stats"].set_index("level")
    samsoe = stats.loc["municipality"]
    assert samsoe["kommunekode"] == "0741" and samsoe["addresses"] == 4591
    assert samsoe["unmatched_rows"] == 105  # Samsø's unmatched mapping rows are kept for stats
    assert samsoe["eligible_if_zone_2024-2025"] == 2


def test_unknown_municipality_and_layer_choice(bundle_release):
    with pytest.raises(NotFoundError, match="0741 Samsø"):
        build_layers(bundle_release, "zones", "2025", ["0999"])
    with pytest.raises(InvalidRequestError, match="eligible-addresses, addresses, zones"):
        build_layers(bundle_release, "everything", "2025")


def test_cli_export_and_zones(bundle_settings, bundle_release, tmp_path):
    home = ["--home", str(bundle_settings.home)]
    target = tmp_path / "pulje.gpkg"
    args = ["export", "--what", "eligible-addresses", "--rules", "2025", "-m", "0741"]
    result = runner.invoke(app, [*args, "-o", str(target), "--json", *home])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "gpkg" and report["rule_set"] == "2024-2025"
    assert report["layers"] == {"eligible_addresses": 2}
    assert report["files"] == [str(target)]
    assert len(pyogrio.read_dataframe(target, layer="eligible_addresses")) == 2

    first = runner.invoke(app, ["zones", "--rules", "2025", "--json", *home])
    second = runner.invoke(app, ["zones", "--rules", "2025", "--json", "--distance", "0", *home])
    assert first.exit_code == 0, first.output
    zones = json.loads(first.output)["zones"]
    assert sum(z["addresses"] for z in zones) == 2
    assert [z["zone_id"] for z in zones] == [
        z["zone_id"] for z in json.loads(second.output)["zones"]
    ]
    lon, lat = zones[0]["centroid"]
    assert 10.4 < lon < 10.8 and 55.7 < lat < 56.0  # on Samsø
    table = runner.invoke(app, ["zones", "--rules", "2025", *home], terminal_width=200)
    assert table.exit_code == 0 and "2 zones, 2 addresses." in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "kml", "-o", "x.kml"], "unknown --format 'kml'"),
        (["-o", "x.txt"], "cannot tell the format"),
        (["-o", "x.gpkg", "-m", "0999"], "valid codes: 0615 Horsens"),
        (["-o", "x.gpkg", "--fixed-below", "fast"], "fixed-below 'fast'"),
        (["-o", "x.gpkg", "--rules", "1999"], "no rule set covers 1999"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(
    bundle_settings, bundle_release, tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    argv = ["netkort", "export", *args, "--home", str(bundle_settings.home)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("netkort: error:") and message in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_a_municipality_without_addresses_exports_empty_layers(bundle_release, tmp_path):
    layers = build_layers(bundle_release, "all", "2021", ["0751"])
    assert {name: len(frame) for name, frame in layers.items()} == {
        "eligible_addresses": 0,
        "addresses": 0,
        "zones": 0,
        "grid_1km": 0,
        "stats": 2,  # Aarhus and the total row
    }
    meta = ExportMetadata.for_release(bundle_release, rule_set=get_rule_set("2021"))
    for fmt in FORMATS:
        files = export(layers, fmt, tmp_path / fmt / f"aarhus{FORMATS[fmt]}", meta)
        assert all(f.exists() for f in files)
    listed = dict(pyogrio.list_layers(tmp_path / "gpkg" / "aarhus.gpkg").tolist())
    assert listed["eligible_addresses"] == "Point" and listed["zones"] == "MultiPolygon"
    stats = pyogrio.read_dataframe(tmp_path / "gpkg" / "aarhus.gpkg", layer="stats")
    assert stats["kommunenavn"].iloc[0] == "Aarhus" and stats["addresses"].iloc[0] == 0
