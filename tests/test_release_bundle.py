"""End-to-end truth on the real bundle: the region, Samsø's addresses and the 2026 mapping."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely

from coverage.release import ReleaseStore

REGION_1082 = {
    "0615": "Horsens", "0657": "Herning", "0661": "Holstebro", "0665": "Lemvig",
    "0671": "Struer", "0706": "Syddjurs", "0707": "Norddjurs", "0710": "Favrskov",
    "0727": "Odder", "0730": "Randers", "0740": "Silkeborg", "0741": "Samsø",
    "0746": "Skanderborg", "0751": "Aarhus", "0756": "Ikast-Brande",
    "0760": "Ringkøbing-Skjern", "0766": "Hedensted", "0779": "Skive", "0791": "Viborg",
}  # fmt: skip


def test_region_has_its_19_municipalities(bundle_release):
    munis = bundle_release.read("municipalities")
    assert dict(zip(munis["kommunekode"], munis["kommunenavn"], strict=True)) == REGION_1082
    assert munis.crs.to_epsg() == 25832
    assert shapely.get_coordinate_dimension(munis.geometry.array).max() == 2  # Z dropped
    assert munis.geometry.is_valid.all()


def test_region_area_is_13143_km2(bundle_release):
    munis = bundle_release.read("municipalities")
    union = shapely.coverage_union_all(munis.geometry.array)
    assert union.area / 1e6 == pytest.approx(13_143, abs=1)
    region = bundle_release.read("region")
    assert region.geometry.iloc[0].area / 1e6 == pytest.approx(13_143, abs=1)


def test_samsoe_addresses_and_mapping_counts(bundle_release):
    counts = bundle_release.manifest["counts"]
    assert counts["addresses"]["accepted"] == 4591
    assert counts["addresses"]["quarantined"] == 0
    assert counts["mapping"]["read"] == 4549
    assert counts["mapping"]["matched"] == 4444
    assert counts["mapping"]["unmatched"] == 105

    addresses = bundle_release.read("addresses")
    assert len(addresses) == 4591 and addresses["id"].is_unique
    assert set(addresses["kommunekode"]) == {"0741"}
    first = addresses.set_index("id").loc["0a3f5095-4215-32b8-e044-0003ba298018"]
    assert first["ddkn_m100"] == "100m_61868_6025"
    assert first["ddkn_km1"] == "1km_6186_602"
    assert first["ddkn_km10"] == "10km_618_60"
    assert first.geometry.x == pytest.approx(602551.91)


def test_unmatched_rows_are_kept_and_reported(bundle_release):
    availability = bundle_release.read("availability")
    assert len(availability) == 4549
    unmatched = availability[availability["address_id"].isna()]
    assert len(unmatched) == 105
    assert "Bryggerbakken" in set(unmatched["vejnavn"])
    report = bundle_release.read("unmatched")
    assert len(report) == 105
    assert set(report.columns) >= {"source_file", "source_line", "vejnavn", "husnr", "postnr"}


def test_manifest_records_inputs_and_is_verified(bundle_release):
    m = json.loads((bundle_release.path / "manifest.json").read_text(encoding="utf-8"))
    kinds = {i["kind"] for i in m["inputs"]}
    assert {"municipalities", "regions", "addresses", "mapping"} <= kinds
    assert all(len(i["sha256"]) == 64 and i["size"] > 0 for i in m["inputs"])
    assert m["crs"] == "EPSG:25832"
    assert m["generated"] is False
    assert m["software"]["netkort"]
    bundle_release.verify(checksums=True)
    for name, info in m["tables"].items():
        if info["geo"]:
            frame = gpd.read_parquet(bundle_release.path / info["file"])
            assert len(frame) == info["rows"], name


def test_current_points_at_the_release(bundle_settings, bundle_release):
    store = ReleaseStore(bundle_settings.home)
    assert store.current().id == bundle_release.id
    assert [r.id for r in store.list()] == [bundle_release.id]
