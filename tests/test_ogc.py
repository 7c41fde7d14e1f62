"""OGC API – Features documents: crafted layers through coverage.ogc, and the bundle through the app."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from coverage import ogc
from coverage.errors import InvalidRequestError, NotFoundError
from service.main import create_app
from service.settings import ServiceSettings

TO_LONLAT = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
BASE = "http://example.org/netkort"


@pytest.fixture
def points() -> ogc.FeatureSource:
    """Five points 1 km apart along a line in EPSG:25832, one with a missing value."""
    east = 600_000.0 + 1000.0 * np.arange(5)
    north = np.full(5, 6_190_000.0)
    frame = gpd.GeoDataFrame(
        {
            "fid": [f"p{i}" for i in (4, 3, 2, 1, 0)],  # not in id order: the source sorts
            "name": ["Æblehaven", "Østergade", "Åvej", "b", "a"],
            "speed": np.array([1.0, np.nan, 3.0, 4.0, 5.0], dtype="float32"),
        },
        geometry=shapely.points(east[::-1], north),
        crs="EPSG:25832",
    )
    return ogc.FeatureSource.from_frame("points", "Points", "Test points", frame, "fid")


def test_parse_bbox():
    assert ogc.parse_bbox("10.5,55.8,10.7,55.9") == (10.5, 55.8, 10.7, 55.9)
    assert ogc.parse_bbox(" 10.5, 55.8, 0, 10.7, 55.9, 100") == (10.5, 55.8, 10.7, 55.9)
    for bad, message in [
        ("10,55,11", "4 finite numbers"),
        ("a,b,c,d", "not 4 numbers"),
        ("nan,55,11,56", "finite"),
        ("10,55,inf,56", "finite"),
        ("600000,6100000,610000,6200000", "degrees"),
        ("11,55,10,56", "minimum"),
        ("", "not 4 numbers"),
    ]:
        with pytest.raises(InvalidRequestError, match=message):
            ogc.parse_bbox(bad)


def test_source_is_lonlat_in_id_order(points):
    assert list(points.frame.index) == ["p0", "p1", "p2", "p3", "p4"]
    assert points.frame.crs.to_epsg() == 4326
    lon, lat = TO_LONLAT.transform(600_000.0, 6_190_000.0)
    first = points.frame.geometry.iloc[0]
    assert (first.x, first.y) == pytest.approx((lon, lat), abs=1e-9)
    # UTM rows are not parallels: the bbox is the lon/lat extent of the transformed points
    lons, lats = TO_LONLAT.transform(600_000.0 + 1000.0 * np.arange(5), np.full(5, 6_190_000.0))
    expected = (min(lons), min(lats), max(lons), max(lats))
    assert points.bbox == pytest.approx(expected, abs=1e-9)
    assert points.position("p3") == 3
    with pytest.raises(NotFoundError):
        points.position("nope")


def test_bbox_selects_by_position(points):
    lon1, lat1 = TO_LONLAT.transform(600_500.0, 6_189_000.0)
    lon2, lat2 = TO_LONLAT.transform(602_500.0, 6_191_000.0)
    assert list(points.select((lon1, lat1, lon2, lat2))) == [1, 2]
    assert list(points.select(None)) == [0, 1, 2, 3, 4]
    assert len(points.select((0.0, 0.0, 1.0, 1.0))) == 0


def test_items_pages_with_links(points):
    matched = points.select(None)
    first = ogc.items_document(BASE, points, matched, limit=2, offset=0, params={"bbox": "1,2,3,4"})
    assert first["type"] == "FeatureCollection"
    assert (first["numberMatched"], first["numberReturned"]) == (5, 2)
    assert [f["id"] for f in first["features"]] == ["p0", "p1"]
    links = {link["rel"]: link for link in first["links"]}
    assert set(links) == {"self", "next", "collection"}
    assert links["next"]["type"] == ogc.GEOJSON
    query = parse_qs(urlsplit(links["next"]["href"]).query)
    assert query == {"bbox": ["1,2,3,4"], "limit": ["2"], "offset": ["2"]}
    assert links["collection"]["href"] == f"{BASE}/collections/points"

    last = ogc.items_document(BASE, points, matched, limit=2, offset=4)
    links = {link["rel"]: link for link in last["links"]}
    assert "next" not in links
    assert parse_qs(urlsplit(links["prev"]["href"]).query)["offset"] == ["2"]
    assert [f["id"] for f in last["features"]] == ["p4"]

    beyond = ogc.items_document(BASE, points, matched, limit=2, offset=10)
    assert beyond["numberReturned"] == 0 and beyond["features"] == []

    with pytest.raises(InvalidRequestError):
        ogc.items_document(BASE, points, matched, limit=0)


def test_features_are_geojson_with_nulls_and_danish_letters(points):
    doc = ogc.items_document(BASE, points, points.select(None), limit=10)
    by_id = {f["id"]: f for f in doc["features"]}
    assert by_id["p3"]["properties"] == {"fid": "p3", "name": "Østergade", "speed": None}
    assert by_id["p2"]["properties"]["name"] == "Åvej"
    geometry = shapely.geometry.shape(by_id["p0"]["geometry"])
    assert geometry.equals_exact(points.frame.geometry.iloc[0], tolerance=1e-12)
    feature = ogc.feature_document(BASE, points, "p2", {"rules": "2025"})
    assert feature["id"] == "p2" and feature["type"] == "Feature"
    assert feature["links"][0] == {
        "href": f"{BASE}/collections/points/items/p2?rules=2025",
        "rel": "self",
        "type": ogc.GEOJSON,
        "title": "This feature",
    }


def test_landing_collections_and_conformance_documents(points):
    landing = ogc.landing_page(BASE, "netkort", "test")
    rels = {link["rel"]: link["type"] for link in landing["links"]}
    assert rels["service-desc"].startswith("application/vnd.oai.openapi+json")
    assert rels["conformance"] == ogc.JSON and rels["data"] == ogc.JSON
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in (ogc.conformance()["conformsTo"])
    )
    collections = ogc.collections_document(BASE, [points])
    (entry,) = collections["collections"]
    assert entry["id"] == "points" and entry["itemType"] == "feature"
    assert entry["extent"]["spatial"]["crs"] == ogc.CRS84
    items = [link for link in entry["links"] if link["rel"] == "items"]
    assert items == [
        {
            "href": f"{BASE}/collections/points/items",
            "rel": "items",
            "type": ogc.GEOJSON,
            "title": "Points (GeoJSON)",
        }
    ]


def test_empty_layer_is_a_valid_collection():
    empty = gpd.GeoDataFrame({"fid": []}, geometry=[], crs="EPSG:25832")
    source = ogc.FeatureSource.from_frame("none", "None", "Empty", empty, "fid")
    doc = ogc.items_document(BASE, source, source.select((10.0, 55.0, 11.0, 56.0)))
    assert doc["numberMatched"] == 0
    assert all(math.isfinite(v) for v in source.bbox)


# -- through the service, on the real bundle --------------------------------------------------


@pytest.fixture(scope="module")
def client(bundle_settings, bundle_release):
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_qgis_can_walk_from_landing_page_to_items(client):
    landing = client.get("/").json()
    data = next(link for link in landing["links"] if link["rel"] == "data")
    collections = client.get(data["href"]).json()["collections"]
    ids = [c["id"] for c in collections]
    assert ids == ["municipalities", "eligible-addresses", "zones"]
    assert client.get("/conformance").json()["conformsTo"] == ogc.CONFORMANCE
    munis = next(c for c in collections if c["id"] == "municipalities")
    items = next(link for link in munis["links"] if link["rel"] == "items")
    response = client.get(items["href"], params={"limit": 50})
    assert response.headers["content-type"] == "application/geo+json"
    assert response.json()["numberMatched"] == 19


def test_bbox_on_samsoe_and_feature_geometry(client, bundle_release):
    response = client.get(
        "/collections/municipalities/items", params={"bbox": "10.5,55.8,10.7,55.9"}
    )
    doc = response.json()
    assert [f["id"] for f in doc["features"]] == ["0741"]
    expected = bundle_release.read("municipalities").to_crs(4326).set_index("kommunekode")
    got = shapely.geometry.shape(doc["features"][0]["geometry"])
    assert got.equals_exact(expected.geometry["0741"], tolerance=1e-9)
    one = client.get("/collections/municipalities/items/0741")
    assert one.headers["content-type"] == "application/geo+json"
    assert one.json()["properties"]["kommunenavn"] == "Samsø"
    missing = client.get("/collections/municipalities/items/9999")
    assert missing.status_code == 404 and missing.json()["detail"]


def test_eligible_addresses_paging_follows_next_links(client):
    url = "/collections/eligible-addresses/items?rules=2025&limit=1"
    seen, pages = [], 0
    while url:
        doc = client.get(url).json()
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        pages += 1
        assert all(f["properties"]["rule_set"] == "2024-2025" for f in doc["features"])
    # DOMAIN.md: 2 Samsø rows meet the 2025 speed test; the bundle has no zones, so both are
    # "eligible if the zone rule holds"
    assert len(seen) == len(set(seen)) == doc["numberMatched"] == pages == 2
    assert "0a3f5095-3dfc-32b8-e044-0003ba298018" in seen  # Strandvejen 52, best fixed 30


def test_zones_collection_and_errors(client):
    doc = client.get("/collections/zones/items", params={"limit": 1000}).json()
    assert doc["numberMatched"] >= 1
    assert all(f["properties"]["label"] == "2024-2025" for f in doc["features"])
    zone = doc["features"][0]["id"]
    assert client.get(f"/collections/zones/items/{zone}").json()["id"] == zone
    bad_bbox = client.get("/collections/zones/items", params={"bbox": "1,2"})
    assert bad_bbox.status_code == 400 and "bbox" in bad_bbox.json()["detail"]
    assert client.get("/collections/zones/items", params={"limit": 0}).status_code == 422
    assert client.get("/collections/zones/items", params={"rules": "1999"}).status_code == 404
    unknown = client.get("/collections/roads")
    assert unknown.status_code == 404
    assert {s["id"] for s in unknown.json()["suggestions"]} == {
        "municipalities",
        "eligible-addresses",
        "zones",
    }
