"""Vector and raster tiles: decoded MVT contents on Samsø, PNG colours, TileJSON, ETag/304, errors;
layers that share their parts across rule sets and zooms draw the bytes of layers built plainly.

The release is the real bundle's, copied into a temporary home together with two COGs written here
with rasterio (one drawn with the mobile RSRP colour map, one with a colour map written out in the
manifest) and one raster entry pointing outside the release, which must be refused, not served.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rasterio
import shapely
from affine import Affine
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio.io import MemoryFile

from coverage.errors import NotFoundError, SourceError
from coverage.grid import CELL_PREFIX
from coverage.gridstats import grid_cell_stats
from coverage.tiles import TMS, ColourScale, LayerInfo, TileSet, colour_scale
from coverage.tiles.cutting import EXTENT, SIMPLIFY_UNITS, PointLayer, PolygonLayer, unit
from coverage.tiles.mvt import (
    PropertyTable,
    framed_texts,
    polygon_commands,
    value_message,
    varints,
)
from coverage.tiles.raster import ColourBand
from coverage.tiles.vector import (
    ADDRESS_CELLS,
    ADDRESS_POINT_ZOOM,
    CLASS_PRIORITY,
    GRID_KM1_ZOOM,
    VectorTiler,
)
from service.main import create_app
from service.routes.tiles import get_tiles
from service.settings import ServiceSettings

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"
STRANDVEJEN_52_LONLAT = (10.63327, 55.82262)
SAMSOE_LONLAT = (10.48, 55.74, 10.72, 55.99)  # west, south, east, north
REGION_CODES = {
    "0615", "0657", "0661", "0665", "0671", "0706", "0707", "0710", "0727", "0730",
    "0740", "0741", "0746", "0751", "0756", "0760", "0766", "0779", "0791",
}  # fmt: skip
MAX_AGE = 123

TO_MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
TO_LONLAT = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
FROM_UTM = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
FROM_UTM_TO_MERCATOR = Transformer.from_crs("EPSG:25832", "EPSG:3857", always_xy=True)
SPEEDS = ("best_down", "best_up", "mobile_down")

# The test raster: 50 m pixels over Samsø. West of column 200 the signal is -115 dBm (RSRP band
# "cell edge"), east of it -85 dBm ("good"); the southernmost 100 rows are no data.
LEFT, TOP, RES, WIDTH, HEIGHT = 590_000.0, 6_208_000.0, 50.0, 400, 600
NODATA = -32768


def write_cog(path: Path) -> None:
    values = np.full((HEIGHT, WIDTH), -85, dtype="int16")
    values[:, :200] = -115
    values[500:, :] = NODATA
    profile = {
        "driver": "COG",
        "width": WIDTH,
        "height": HEIGHT,
        "count": 1,
        "dtype": "int16",
        "crs": "EPSG:25832",
        "transform": Affine(RES, 0, LEFT, 0, -RES, TOP),
        "nodata": NODATA,
        "blocksize": 256,
        "compress": "DEFLATE",
        "overview_resampling": "nearest",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def pixel_lonlat(col: float, row: float) -> tuple[float, float]:
    return FROM_UTM.transform(LEFT + (col + 0.5) * RES, TOP - (row + 0.5) * RES)


@pytest.fixture(scope="module")
def home(bundle_release, tmp_path_factory) -> Path:
    """A home whose current release is the bundle's plus rasters."""
    home = tmp_path_factory.mktemp("tiles-home")
    target = home / "releases" / bundle_release.id
    shutil.copytree(bundle_release.path, target)
    write_cog(target / "rsrp_test.tif")
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    manifest["rasters"] = [
        {"name": "test-rsrp", "path": "rsrp_test.tif", "colour_map": "rsrp", "technology": "4G"},
        {
            "name": "test-classes",
            "path": "rsrp_test.tif",
            "colour_map": {
                "id": "two-classes",
                "title": "Two classes",
                "units": "dBm",
                "bands": [
                    {"min": -130, "max": -100, "colour": "#ff0000", "label_da": "svag",
                     "label_en": "weak"},
                    {"min": -100, "max": -50, "colour": "#0000ff", "opacity": 0.5},
                ],
            },
            "attribution": ["Test raster"],
        },
        {"name": "outside", "path": "../../../etc/hostname", "colour_map": "rsrp"},
    ]  # fmt: skip
    (target / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    (home / "current").symlink_to(Path("releases") / bundle_release.id)
    return home


@pytest.fixture(scope="module")
def client(home, bundle_settings):
    settings = ServiceSettings(
        data=bundle_settings.data, home=home, reload_interval=3600, tile_max_age=MAX_AGE
    )
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def tiles(client) -> TileSet:
    """The tile set the service holds for its release."""
    return get_tiles(client.app.state.watcher.get())


def tile_at(lon: float, lat: float, z: int):
    return TMS.tile(lon, lat, z)


def decode(content: bytes) -> dict:
    """MVT → {layer: [features]} in tile units with y down (as encoded)."""
    return {
        name: layer["features"]
        for name, layer in mapbox_vector_tile.decode(
            content, default_options={"y_coord_down": True}
        ).items()
    }


def tile_to_mercator(geometry: dict, tile) -> shapely.Geometry:
    """A decoded feature's geometry back in EPSG:3857."""
    b = TMS.xy_bounds(tile)
    size = (b.right - b.left) / EXTENT
    shape = shapely.geometry.shape(geometry)
    return shapely.transform(
        shape, lambda c: np.column_stack([b.left + c[:, 0] * size, b.top - c[:, 1] * size])
    )


def inside_tile(feature: dict) -> bool:
    """Whether a decoded point lies in the tile proper, not in the buffer shared with neighbours."""
    x, y = feature["geometry"]["coordinates"]
    return 0 <= x < EXTENT and 0 <= y < EXTENT


def samsoe_tiles(z: int):
    return list(TMS.tiles(*SAMSOE_LONLAT, zooms=[z]))


def mvt(client, path: str, **params):
    response = client.get(path, params=params)
    assert response.status_code in (200, 204), response.text
    return response, decode(response.content) if response.status_code == 200 else {}


# --------------------------------------------------------------------------------------------------
# Addresses


def test_strandvejen_52_is_a_point_with_its_class_and_speeds_at_zoom_14_and_16(client):
    for z in (14, 16):
        t = tile_at(*STRANDVEJEN_52_LONLAT, z)
        response, layers = mvt(client, f"/tiles/addresses/{z}/{t.x}/{t.y}.mvt", rules="2025")
        assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        [feature] = [f for f in layers["addresses"] if f["properties"].get("id") == STRANDVEJEN_52]
        p = feature["properties"]
        assert p["class"] == "eligible_if_zone"
        assert p["address"] == "Strandvejen 52, 8305 Samsø"
        assert (p["best_down"], p["best_tech"], p["count"], p["generated"]) == (
            30.0,
            "xdsl",
            1,
            False,
        )
        assert p["mobile_down"] < 600
        point = tile_to_mercator(feature["geometry"], t)
        lon, lat = TO_LONLAT.transform(point.x, point.y)
        x0, y0 = TO_MERCATOR.transform(*STRANDVEJEN_52_LONLAT)
        # the register position, within the rounding of the 4096 grid (and 5 decimals of lon/lat)
        assert abs(point.x - x0) < 5 and abs(point.y - y0) < 5, (lon, lat)
    # the same address under the 2016-2020 rules is not eligible
    t = tile_at(*STRANDVEJEN_52_LONLAT, 14)
    _, layers = mvt(client, f"/tiles/addresses-2016-2020/14/{t.x}/{t.y}.mvt")
    [feature] = [f for f in layers["addresses"] if f["properties"].get("id") == STRANDVEJEN_52]
    assert feature["properties"]["class"] == "not_eligible"


@pytest.mark.parametrize("z", [10, 11, 12, 13, 14])
def test_every_samsoe_address_is_counted_once_at_each_zoom(client, tiles, z):
    """Cells below zoom 14, points from it: over all Samsø tiles (features in the shared buffer
    skipped) the counts add up to the 4,591 addresses, and the two that pass the 2025 speed test
    are there."""
    total = eligible = 0
    classes = set()
    for t in samsoe_tiles(z):
        _, layers = mvt(client, f"/tiles/addresses-2024-2025/{z}/{t.x}/{t.y}.mvt")
        for f in layers.get("addresses", []):
            if not inside_tile(f):
                continue
            p = f["properties"]
            total += p["count"]
            if z < 14:
                assert p["cell"].startswith({10: "1km_", 11: "1km_", 12: "100m_", 13: "100m_"}[z])
                eligible += p["eligible"]
            else:
                assert "cell" not in p and len(p["id"]) == 36
                eligible += p["class"] in ("eligible", "eligible_blue", "eligible_if_zone")
            classes.add(p["class"])
    assert total == 4591
    assert eligible == 2
    # a cell shows its most urgent class: the eligible one is not drowned by 4,000 served ones
    assert {"eligible_if_zone", "not_eligible", "no_data"} <= classes


def test_low_zoom_cells_stay_small(client):
    t = tile_at(*STRANDVEJEN_52_LONLAT, 8)
    response, layers = mvt(client, f"/tiles/addresses/8/{t.x}/{t.y}.mvt")
    cells = layers["addresses"]
    assert all(f["properties"]["cell"].startswith("10km_") for f in cells)
    assert len(response.content) < 2_000
    samsoe = [f for f in cells if inside_tile(f)]
    assert sum(f["properties"]["count"] for f in samsoe) == 4591


# --------------------------------------------------------------------------------------------------
# Municipalities and zones


def test_samsoe_boundary_tile_matches_the_municipality_polygon(client, tiles):
    munis = client.app.state.watcher.get().context.municipalities.to_crs("EPSG:3857")
    samsoe = munis.loc[munis["kommunekode"] == "0741"].geometry.iloc[0]
    for z, tolerance in ((8, 0.02), (10, 0.005), (12, 0.002)):
        t = tile_at(10.56, 55.86, z)
        _, layers = mvt(client, f"/tiles/municipalities/{z}/{t.x}/{t.y}.mvt")
        [feature] = [
            f for f in layers["municipalities"] if f["properties"]["kommunekode"] == "0741"
        ]
        assert feature["properties"]["kommunenavn"] == "Samsø"
        assert feature["properties"]["area_km2"] == pytest.approx(114.7, abs=0.1)
        got = tile_to_mercator(feature["geometry"], t)
        b = TMS.xy_bounds(t)
        pad = (b.right - b.left) * 64 / EXTENT
        want = shapely.clip_by_rect(
            samsoe, b.left - pad, b.bottom - pad, b.right + pad, b.top + pad
        )
        assert got.is_valid
        assert shapely.symmetric_difference(got, want).area / want.area < tolerance, z


def test_region_tiles_hold_the_19_municipalities_without_overlaps(client):
    codes = set()
    for t in TMS.tiles(8.07, 55.64, 11.67, 56.85, zooms=[7]):
        _, layers = mvt(client, f"/tiles/municipalities/7/{t.x}/{t.y}.mvt")
        polygons = [shapely.geometry.shape(f["geometry"]) for f in layers.get("municipalities", [])]
        codes |= {f["properties"]["kommunekode"] for f in layers.get("municipalities", [])}
        if polygons:  # coverage simplification: neighbours share their border, nothing overlaps
            union = shapely.union_all(polygons)
            assert sum(p.area for p in polygons) == pytest.approx(union.area, rel=1e-3)
    assert codes == REGION_CODES


def test_zones_2024_2025_are_the_two_samsoe_zones(client, tiles):
    zones = client.app.state.watcher.get().context.zones["2024-2025"].to_crs("EPSG:3857")
    found: dict[str, list[shapely.Geometry]] = {}
    for t in samsoe_tiles(14):
        _, layers = mvt(client, f"/tiles/zones-2024-2025/14/{t.x}/{t.y}.mvt")
        for f in layers.get("zones", []):
            p = f["properties"]
            assert p["rule_set"] == "2024-2025" and p["kommunenavn"] == "Samsø"
            assert p["eligible_if_zone"] == p["addresses"] == 1
            # a zone on a tile edge comes in parts: each tile's own part, without the buffer
            part = shapely.clip_by_rect(tile_to_mercator(f["geometry"], t), *TMS.xy_bounds(t))
            found.setdefault(p["zone_id"], []).append(part)
    assert set(found) == set(zones["zone_id"])
    for zone_id, parts in found.items():
        got = shapely.union_all(parts)
        want = zones.loc[zones["zone_id"] == zone_id].geometry.iloc[0]
        # one 100 m cell, drawn to the nearest of ~0.6 m units
        assert shapely.symmetric_difference(got, want).area / want.area < 0.02
    # the rule set by query parameter names the same layer: same bytes, same ETag
    t = tile_at(10.60, 55.82, 12)
    by_name = client.get(f"/tiles/zones-2024-2025/12/{t.x}/{t.y}.mvt")
    by_param = client.get(f"/tiles/zones/12/{t.x}/{t.y}.mvt", params={"rules": "2025"})
    assert by_name.status_code == 200 and by_name.content == by_param.content
    assert by_name.headers["etag"] == by_param.headers["etag"]


def test_grid_cells_are_1km_from_zoom_10_and_10km_below(client):
    addresses = client.app.state.watcher.get().index.addresses
    km1 = addresses.loc[addresses["id"] == STRANDVEJEN_52, "ddkn_km1"].iloc[0]
    in_cell = int((addresses["ddkn_km1"] == km1).sum())
    t = tile_at(*STRANDVEJEN_52_LONLAT, 12)
    _, layers = mvt(client, f"/tiles/grid/12/{t.x}/{t.y}.mvt")
    cells = {f["properties"]["cell"]: f["properties"] for f in layers["grid"]}
    assert all(c.startswith("1km_") for c in cells)
    assert cells[km1]["kommunekode"] == "0741" and cells[km1]["addresses"] == in_cell
    assert cells[km1]["eligible_if_zone"] >= 1  # Strandvejen 52 itself
    assert 0 <= cells[km1]["share_100"] <= 1
    t = tile_at(*STRANDVEJEN_52_LONLAT, 8)
    _, layers = mvt(client, f"/tiles/grid/8/{t.x}/{t.y}.mvt")
    assert all(f["properties"]["cell"].startswith("10km_") for f in layers["grid"])


# --------------------------------------------------------------------------------------------------
# HTTP: empty tiles, caching, errors


def test_a_tile_with_nothing_in_it_is_204_with_cache_headers(client):
    t = tile_at(7.5, 56.0, 14)  # the North Sea
    response = client.get(f"/tiles/addresses/14/{t.x}/{t.y}.mvt")
    assert response.status_code == 204 and response.content == b""
    assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    assert response.headers["etag"].startswith('"')


def test_etag_is_strong_and_if_none_match_gives_304(client, tiles):
    t = tile_at(*STRANDVEJEN_52_LONLAT, 14)
    url = f"/tiles/addresses/14/{t.x}/{t.y}.mvt"
    first = client.get(url, params={"release": tiles.release_id})
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(url, headers={"If-None-Match": held})
        assert again.status_code == 304 and again.content == b"", held
        assert again.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # the ETag names the tile, the layer and its rule set
    other_tile = client.get(f"/tiles/addresses/14/{t.x + 1}/{t.y}.mvt").headers["etag"]
    other_rules = client.get(url, params={"rules": "2021"}).headers["etag"]
    assert len({etag, other_tile, other_rules}) == 3
    # a client still on another release's URL gets this release's tile, marked not to be kept
    stale = client.get(url, params={"release": "20200101T000000Z-00000000"})
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/tiles/nope/1/0/0.mvt", {}, 404, "no tile layer 'nope'"),
        ("/tiles/nope.json", {}, 404, "no tile layer"),
        ("/tiles/municipalities/17/0/0.mvt", {}, 404, "zoom levels 0 to 16"),
        ("/tiles/municipalities/3/8/0.mvt", {}, 404, "x and y run from 0 to 7"),
        ("/tiles/municipalities/3/-1/0.mvt", {}, 404, "x and y run from 0 to 7"),
        ("/tiles/municipalities/3/0/99999999999999999999.mvt", {}, 404, "x and y run"),
        ("/tiles/municipalities/a/0/0.mvt", {}, 422, "z"),
        ("/tiles/zones-1999/3/4/2.mvt", {}, 404, "1999"),
        ("/tiles/zones/3/4/2.mvt", {"rules": "1999"}, 404, "1999"),
        ("/tiles/zones-2025/3/4/2.mvt", {"rules": "2021"}, 400, "2024-2025"),
        ("/tiles/municipalities/3/4/2.png", {}, 404, "vector layer"),
        ("/tiles/test-classes/3/4/2.mvt", {}, 404, "raster layer"),
        ("/tiles/municipalities/legend", {}, 404, "vector layer"),
        ("/tiles/outside/12/2170/1280.png", {}, 404, "no tile layer 'outside'"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(client, path, params, status, words):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_unknown_layer_suggests_the_known_ones(client):
    body = client.get("/tiles/municipality/8/135/79.mvt").json()
    assert "municipalities" in [s["id"] for s in body["suggestions"]]


def test_no_junk_tile_request_is_a_server_error(client):
    rng = np.random.default_rng(7)
    names = ["municipalities", "zones", "addresses-2021", "grid", "test-rsrp", "x", "zones-"]
    for _ in range(120):
        z = int(rng.integers(-2, 25))
        x, y = (int(v) for v in rng.integers(-5, 2 ** max(z, 0) + 5, size=2))
        name = names[int(rng.integers(len(names)))]
        ext = ("mvt", "png")[int(rng.integers(2))]
        response = client.get(f"/tiles/{name}/{z}/{x}/{y}.{ext}")
        assert response.status_code < 500, (name, z, x, y, ext, response.text)


# --------------------------------------------------------------------------------------------------
# TileJSON and the layer list


def test_tilejson_of_a_vector_layer(client, tiles):
    doc = client.get("/tiles/zones.json", params={"rules": "2025"}).json()
    assert doc["tilejson"] == "3.0.0" and doc["name"] == "zones-2024-2025"
    template = doc["tiles"][0]
    assert template == (
        f"http://testserver/tiles/zones-2024-2025/{{z}}/{{x}}/{{y}}.mvt?release={tiles.release_id}"
    )
    w, s, e, n = doc["bounds"]
    assert w < 10.6 < e and s < 55.9 < n and w < 9.5 < e  # the region, Samsø included
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 16)
    [layer] = doc["vector_layers"]
    assert layer["id"] == "zones" and "zone_id" in layer["fields"]
    assert "Bredbåndskortlægning" in doc["attribution"]
    # the template answers
    t = tile_at(10.60, 55.82, 12)
    url = template.replace("{z}", "12").replace("{x}", str(t.x)).replace("{y}", str(t.y))
    assert client.get(url.removeprefix("http://testserver")).status_code == 200


def test_layer_list(client, tiles):
    doc = client.get("/tiles").json()
    ids = [layer["id"] for layer in doc["layers"]]
    assert ids[0] == "municipalities"
    for layer_id in ("zones-2024-2025", "addresses-2021", "grid-2016-2020", "test-rsrp"):
        assert layer_id in ids
    assert doc["aliases"]["zones"] == "zones-2024-2025"
    assert "outside" not in ids and any("'outside'" in p for p in doc["problems"])
    raster = next(layer for layer in doc["layers"] if layer["id"] == "test-classes")
    assert raster["kind"] == "raster" and raster["legend"].endswith("/tiles/test-classes/legend")
    assert raster["tiles"].endswith(
        f"/tiles/test-classes/{{z}}/{{x}}/{{y}}.png?release={tiles.release_id}"
    )


# --------------------------------------------------------------------------------------------------
# Raster tiles and legends


def png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # a web tile
        with MemoryFile(response.content) as memory, memory.open() as src:
            assert (src.driver, src.width, src.height, src.count) == ("PNG", 256, 256, 4)
            return src.read()


def pixel_of(lon: float, lat: float, tile) -> tuple[int, int]:
    x, y = TO_MERCATOR.transform(lon, lat)
    b = TMS.xy_bounds(tile)
    return int((b.top - y) / (b.top - b.bottom) * 256), int((x - b.left) / (b.right - b.left) * 256)


def test_png_tiles_are_256_px_rgba_with_the_rsrp_colours(client):
    rsrp = {
        s.label: s.rgba
        for s in pytest.importorskip("coverage.mobile.colours").colour_map("rsrp").stops
    }
    edge = next(v for k, v in rsrp.items() if k.startswith("−120 to −110"))
    good = next(v for k, v in rsrp.items() if k.startswith("−90 to −80"))
    for z in (9, 11, 12, 13):  # zoom 9 is drawn from the overview
        west, east = pixel_lonlat(100, 300), pixel_lonlat(300, 300)
        for (lon, lat), colour in ((west, edge), (east, good)):
            t = tile_at(lon, lat, z)
            image = png(client.get(f"/tiles/test-rsrp/{z}/{t.x}/{t.y}.png"))
            row, col = pixel_of(lon, lat, t)
            assert tuple(image[:, row, col]) == colour, (z, lon, lat)


def test_low_zooms_read_the_overview_that_matches_their_pixels(tiles):
    pyramid = tiles.raster._pyramids["test-classes"]
    assert pyramid.resolution == RES and pyramid.factors == (2, 4)
    lon, lat = pixel_lonlat(200, 300)
    # pixels of ~340 m at zoom 8 read the 200 m overview, ~170 m at zoom 9 the 100 m one, ~85 m
    # at zoom 10 the 50 m pixels themselves (an overview coarser than the tile's pixel is not used)
    assert [pyramid.level(tile_at(lon, lat, z)) for z in (8, 9, 10, 11, 14)] == [1, 0, -1, -1, -1]


def test_no_data_is_transparent_and_a_tile_without_data_is_204(client):
    lon, lat = pixel_lonlat(100, 497)  # just north of the no-data strip
    t = tile_at(lon, lat, 14)
    image = png(client.get(f"/tiles/test-classes/14/{t.x}/{t.y}.png"))
    row, col = pixel_of(*pixel_lonlat(100, 560), t)
    assert image[3, min(row, 255), col] == 0  # no data: transparent
    row, col = pixel_of(lon, lat, t)
    assert tuple(image[:, row, col]) == (255, 0, 0, 255)  # -115 dBm in the "weak" class
    inside_nodata = tile_at(*pixel_lonlat(100, 550), 13)
    response = client.get(f"/tiles/test-classes/13/{inside_nodata.x}/{inside_nodata.y}.png")
    assert response.status_code == 204
    far = tile_at(8.3, 56.5, 12)
    response = client.get(f"/tiles/test-classes/12/{far.x}/{far.y}.png")
    assert response.status_code == 204 and response.headers["etag"]


def test_legends_match_the_colours_drawn(client):
    legend = client.get("/tiles/test-classes/legend").json()
    assert legend["colour_map"] == "two-classes" and legend["units"] == "dBm"
    assert legend["entries"] == [
        {"min": -100.0, "max": -50.0, "colour": "#0000ff", "opacity": 0.502,
         "label_da": "−100 dBm og derover", "label_en": "−100 dBm and above"},
        {"min": -130.0, "max": -100.0, "colour": "#ff0000", "opacity": 1.0,
         "label_da": "svag", "label_en": "weak"},
    ]  # fmt: skip
    colours = pytest.importorskip("coverage.mobile.colours").colour_map("rsrp")
    rsrp = client.get("/tiles/test-rsrp/legend").json()
    assert [e["colour"] for e in rsrp["entries"]] == [e["color"] for e in colours.legend()]
    assert rsrp["entries"][0]["label_da"] == "−80 dBm og derover"
    assert rsrp["entries"][-1]["label_da"] == "under −120 dBm"
    assert all(e["label_en"] and e["label_da"] for e in rsrp["entries"])


def test_the_release_mobile_model_rasters_are_served_in_their_colour_map(client):
    """``netkort build`` puts the modelled RSRP layers under mobile/ and lists them in the
    manifest: each is a layer, and every pixel drawn has one of the RSRP colours."""
    manifest = client.app.state.watcher.get().release.manifest
    names = [layer["name"] for layer in (manifest.get("mobile") or {}).get("layers", [])]
    if not names:
        pytest.skip("this build has no mobile model")
    ids = [layer["id"] for layer in client.get("/tiles").json()["layers"]]
    assert set(names) <= set(ids)
    colours = {b.rgba for b in colour_scale("rsrp").bands}
    t = tile_at(10.58, 55.86, 12)
    image = png(client.get(f"/tiles/{names[0]}/12/{t.x}/{t.y}.png"))
    drawn = image[:, image[3] > 0].T
    assert len(drawn) > 1000
    assert {tuple(int(v) for v in p) for p in drawn} <= colours
    assert client.get(f"/tiles/{names[0]}/legend").json()["colour_map"] == "rsrp"


def test_tilejson_of_a_raster_layer(client):
    doc = client.get("/tiles/test-rsrp.json").json()
    assert "vector_layers" not in doc and doc["legend"].endswith("/tiles/test-rsrp/legend")
    assert doc["tiles"][0].split("?")[0].endswith("/tiles/test-rsrp/{z}/{x}/{y}.png")
    w, s, e, n = doc["bounds"]
    west, north = FROM_UTM.transform(LEFT, TOP)
    east, south = FROM_UTM.transform(LEFT + WIDTH * RES, TOP - HEIGHT * RES)
    assert w <= west + 1e-3 and n >= north - 1e-3 and e >= east - 1e-3 and s <= south + 1e-3
    assert doc["minzoom"] < 10 < doc["maxzoom"] <= 22


# --------------------------------------------------------------------------------------------------
# The library: colour scales and the MVT writer against mapbox_vector_tile's


def test_colour_scale_applies_bands_and_refuses_overlaps():
    red, blue = (255, 0, 0, 255), (0, 0, 255, 128)
    scale = ColourScale(
        "t",
        "t",
        "dBm",
        "",
        (ColourBand(-100, -50, blue, "b", "b"), ColourBand(-130, -100, red, "a", "a")),
    )
    values = np.ma.masked_array(
        [[-130, -100.5, -100], [-50, -140, -60]], mask=[[0, 0, 0], [0, 0, 1]]
    )
    rgb, alpha = scale.apply(values)
    assert alpha.tolist() == [[255, 255, 128], [0, 0, 0]]  # max is exclusive; mask is transparent
    assert rgb[:, 0, 0].tolist() == [255, 0, 0] and rgb[:, 0, 2].tolist() == [0, 0, 255]
    with pytest.raises(SourceError, match="overlap"):
        ColourScale(
            "t", "t", "", "", (ColourBand(0, 10, red, "", ""), ColourBand(5, 20, red, "", ""))
        )
    with pytest.raises(SourceError, match="#rrggbb"):
        colour_scale({"id": "x", "bands": [{"min": 0, "max": 1, "colour": "red"}]})
    with pytest.raises(NotFoundError):
        colour_scale("no-such-map")


def test_mvt_writer_matches_mapbox_vector_tile():
    """Polygons with holes, multipolygons, slivers that collapse, points and every property type:
    decoded, the vectorised writer's tile equals ``mapbox_vector_tile.encode``'s."""
    rng = np.random.default_rng(11)
    tile = TMS.tile(10.6, 55.85, 12)
    b = TMS.xy_bounds(tile)
    size = b.right - b.left
    polygons = []
    for _ in range(60):
        cx, cy = b.left + rng.uniform(-0.1, 1.1) * size, b.bottom + rng.uniform(-0.1, 1.1) * size
        shape = shapely.Point(cx, cy).buffer(rng.uniform(0.01, 0.1) * size, quad_segs=4)
        if rng.random() < 0.3:
            shape = shape.difference(shapely.Point(cx, cy).buffer(shape.length / 30))
        if rng.random() < 0.2:
            shape = shapely.MultiPolygon(
                [shape, shapely.box(cx, cy - size / 5, cx + size / 50, cy - size / 6)]
            )
        polygons.append(shape)
    # a sliver under a unit wide and a speck under a pixel: both draw as nothing, both left out
    polygons.append(shapely.box(b.left, b.bottom, b.left + size / 10_000, b.top))
    polygons.append(
        shapely.box(
            b.left + size / 2,
            b.bottom + size / 2,
            *(v + size / 300 for v in (b.left + size / 2, b.bottom + size / 2)),
        )
    )
    n = len(polygons)
    props = pd.DataFrame(
        {
            "name": [f"p{i}" if i % 7 else None for i in range(n)],
            "count": pd.array([i - 20 if i % 5 else None for i in range(n)], dtype="Int64"),
            "speed": [float(i) / 3 if i % 4 else np.nan for i in range(n)],
            "flag": [bool(i % 2) for i in range(n)],
        }
    )
    frame = gpd.GeoDataFrame(props, geometry=polygons, crs="EPSG:3857")
    ours = decode(PolygonLayer.from_frame(frame).tile(tile, "things"))["things"]

    scale = EXTENT / size
    reference = []
    for i, shape in enumerate(polygons[:-2]):
        clipped = shapely.clip_by_rect(
            shape,
            b.left - 64 / scale,
            b.bottom - 64 / scale,
            b.right + 64 / scale,
            b.top + 64 / scale,
        )
        local = shapely.transform(
            clipped,
            lambda c: np.column_stack([(c[:, 0] - b.left) * scale, (b.top - c[:, 1]) * scale]),
        )
        properties = {
            k: (round(v, 2) if isinstance(v, float) else v)
            for k, v in props.iloc[i].items()
            if not pd.isna(v)
        }
        properties = {
            k: (int(v) if isinstance(v, np.integer) else bool(v) if isinstance(v, np.bool_) else v)
            for k, v in properties.items()
        }
        reference.append({"geometry": local, "properties": properties})
    theirs = decode(
        mapbox_vector_tile.encode(
            {"name": "things", "features": reference},
            default_options={"y_coord_down": True},
        )
    )["things"]
    assert len(ours) == len(theirs)
    for a, b_ in zip(ours, theirs, strict=True):
        assert a["properties"] == b_["properties"]
        ga, gb = shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b_["geometry"])
        assert shapely.symmetric_difference(ga, gb).area <= 1e-9 * max(gb.area, 1)
        assert shapely.is_valid(ga)


def test_point_layer_keeps_the_buffer_and_leaves_out_what_is_beyond_it():
    tile = TMS.tile(10.6, 55.85, 14)
    b = TMS.xy_bounds(tile)
    unit = (b.right - b.left) / EXTENT
    xs = np.array(
        [b.left + unit * 10, b.left - unit * 63, b.left - unit * 65, b.right + unit * 60, np.nan]
    )
    ys = np.full(5, (b.top + b.bottom) / 2)
    props = PropertyTable.from_frame(pd.DataFrame({"i": range(5)}))
    features = decode(PointLayer.build(xs, ys, props).tile(tile, "p"))["p"]
    assert [f["properties"]["i"] for f in features] == [0, 1, 3]
    assert [f["geometry"]["coordinates"][0] for f in features] == [10, -63, 4156]


def test_polygons_that_collapse_on_the_grid_are_dropped_not_encoded_broken():
    speck = shapely.box(0.1, 0.1, 0.3, 0.3)  # inside one unit: rounds to a point
    line = shapely.box(10, 10, 200, 10.2)  # a ring of zero area after rounding
    square = shapely.box(10, 10, 20, 20)
    holed = shapely.Polygon(
        [(0, 0), (100, 0), (100, 100), (0, 100)], [[(50, 50), (50.2, 50), (50.2, 50.2)]]
    )
    stream, lengths, keep = polygon_commands(np.array([speck, line], dtype=object), (0, 0), 1.0)
    assert (len(stream), len(lengths), keep.tolist()) == (0, 0, [False, False])
    stream, lengths, keep = polygon_commands(
        np.array([speck, square, holed], dtype=object), (0, 0), 1.0
    )
    assert keep.tolist() == [False, True, True]
    assert lengths.tolist() == [11, 11]  # 4 points each: MoveTo, 2, LineTo, 6, ClosePath; no hole


# --------------------------------------------------------------------------------------------------
# Shared structures draw the same bytes as layers built the plain way
#
# The tiler shares what rule sets and zoom levels have in common (cell positions, grid polygons,
# equal simplifications, the table's own ids and address parts). The layers below are built the
# plain way instead, from the same frames, each on its own with nothing shared: every property a
# factorised column (ids and address texts included), every zoom simplified afresh.


class PlainPolygons(PolygonLayer):
    """Polygons simplified on their own for each zoom: nothing shared between zooms."""

    def at_zoom(self, z: int) -> np.ndarray:
        if self.simplify == "none":
            return self.geoms
        if z not in self._by_zoom:
            self._by_zoom[z] = self._simplified(unit(z) * SIMPLIFY_UNITS)
        return self._by_zoom[z]

    def _simplified(self, tolerance: float) -> np.ndarray:
        if self.simplify == "coverage":
            out = np.asarray(shapely.coverage_simplify(self.geoms, tolerance), dtype=object)
            if shapely.is_valid(out).all():
                return out
        return np.asarray(shapely.simplify(self.geoms, tolerance, preserve_topology=True))


def plain_generated(addresses: pd.DataFrame, assessment: pd.DataFrame) -> np.ndarray:
    out = addresses["generated"].fillna(False).to_numpy(dtype=bool)
    if "generated" in assessment.columns:
        out = out | assessment["generated"].fillna(False).to_numpy(dtype=bool)
    return out


def plain_points(addresses: pd.DataFrame, assessment: pd.DataFrame) -> PointLayer:
    """Addresses as points with every property a column of its own (texts joined by pandas)."""
    x, y = addresses["east"].to_numpy(float), addresses["north"].to_numpy(float)
    rows = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    a, s = addresses.iloc[rows], assessment.iloc[rows]
    text = (
        a["vejnavn"].astype("string") + " " + a["husnr"].astype("string") + ", "
        + a["postnr"].astype("string") + " " + a["postnrnavn"].astype("string")
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "count": np.ones(len(rows), dtype="int64"),
            "class": s["class"].astype("string").array,
            "best_down": s["best_down"].array,
            "best_up": s["best_up"].array,
            "mobile_down": s["mobile_down"].array,
            "generated": plain_generated(addresses, assessment)[rows],
            "best_tech": s["best_tech"].astype("string").array,
            "id": a["id"].array,
            "address": text.array,
            "kommunekode": a["kommunekode"].array,
        }
    )
    x, y = FROM_UTM_TO_MERCATOR.transform(x[rows], y[rows])
    return PointLayer.build(x, y, PropertyTable.from_frame(frame))


def plain_cells(addresses: pd.DataFrame, assessment: pd.DataFrame, size: int) -> PointLayer:
    """Addresses on DDKN cells: one point per cell at the mean position, with the most urgent
    class, eligible and no-data counts and the lowest speeds."""
    x, y = addresses["east"].to_numpy(float), addresses["north"].to_numpy(float)
    rows = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    x, y, s = x[rows], y[rows], assessment.iloc[rows]
    rank = pd.Categorical(s["class"].astype("string"), categories=CLASS_PRIORITY).codes
    rank = np.where(rank < 0, len(CLASS_PRIORITY) - 1, rank)
    per = pd.DataFrame(
        {
            "row": np.floor_divide(y, size).astype("int64"),
            "col": np.floor_divide(x, size).astype("int64"),
            "x": x,
            "y": y,
            "rank": rank,
            "eligible": rank < 3,
            "no_data": rank == CLASS_PRIORITY.index("no_data"),
            **{c: s[c].to_numpy("float64", na_value=np.nan) for c in SPEEDS},
            "generated": plain_generated(addresses, assessment)[rows],
        }
    )
    g = per.groupby(["row", "col"], sort=True).agg(
        count=("x", "size"),
        x=("x", "mean"),
        y=("y", "mean"),
        rank=("rank", "min"),
        eligible=("eligible", "sum"),
        no_data=("no_data", "sum"),
        **{c: (c, "min") for c in SPEEDS},
        generated=("generated", "any"),
    )
    r = g.index.get_level_values("row").to_numpy("int64")
    c = g.index.get_level_values("col").to_numpy("int64")
    g = g.reset_index(drop=True)
    g["class"] = np.asarray(CLASS_PRIORITY, dtype=object)[g.pop("rank").to_numpy()]
    g["cell"] = [f"{CELL_PREFIX[size]}_{i}_{j}" for i, j in zip(r, c, strict=True)]
    x, y = FROM_UTM_TO_MERCATOR.transform(g.pop("x").to_numpy(), g.pop("y").to_numpy())
    return PointLayer.build(x, y, PropertyTable.from_frame(g))


def plain_layer(state, info: LayerInfo, z: int) -> PointLayer | PolygonLayer:
    """The layer a tile of ``info`` at ``z`` is cut from, built the plain way."""
    fields = list(info.fields[info.base])
    if info.base == "municipalities":
        frame = state.context.municipalities
        return PlainPolygons.from_frame(frame[[*fields, "geometry"]], simplify="coverage")
    addresses, assessment = state.index.table, state.context.assessments[info.rule_set]
    if info.base == "zones":
        frame = state.context.zones[info.rule_set].rename(columns={"label": "rule_set"})
        keep = [c for c in fields if c in frame.columns]
        return PlainPolygons.from_frame(frame[[*keep, "geometry"]], simplify="each")
    if info.base == "grid":
        stats = grid_cell_stats(addresses, assessment, 10_000 if z < GRID_KM1_ZOOM else 1_000)
        return PlainPolygons.from_frame(stats[[*fields, "geometry"]])
    if z >= ADDRESS_POINT_ZOOM:
        return plain_points(addresses, assessment)
    return plain_cells(addresses, assessment, next(s for lim, s in ADDRESS_CELLS if z < lim))


def test_every_layer_draws_the_bytes_of_layers_built_the_plain_way(client, tiles):
    """Every layer of every rule set, at zooms across all three address cell sizes, points, both
    grid sizes and the zones' shared simplifications: byte for byte the tiles of plain layers."""
    state = client.app.state.watcher.get()
    table = state.index.table
    lon, lat = FROM_UTM.transform(table["east"].to_numpy(float), table["north"].to_numpy(float))
    zones = zone_points(state)
    rng = np.random.default_rng(7)
    drawn = 0
    for z in (6, 9, 10, 11, 12, 13, 14, 16):
        near = tiles_of(lon, lat, z)  # tiles with addresses, and those holding the zones
        picked = {near[i] for i in rng.choice(len(near), min(len(near), 16), replace=False)}
        picked |= set(tiles_of(zones[:, 0], zones[:, 1], z))
        for info in tiles.vector.layers():
            plain = plain_layer(state, info, z)
            for t in sorted(picked):
                ours = tiles.vector.tile(info.id, t.z, t.x, t.y)
                assert ours == plain.tile(t, info.base), (info.id, t)
                drawn += ours is not None
    assert drawn > 600


def tiles_of(lon: np.ndarray, lat: np.ndarray, z: int) -> list[morecantile.Tile]:
    """The WebMercatorQuad tiles holding points, each once, in order."""
    n = 2**z
    x = np.floor((np.asarray(lon) + 180) / 360 * n).astype(int)
    phi = np.radians(lat)
    y = np.floor((1 - np.log(np.tan(phi) + 1 / np.cos(phi)) / np.pi) / 2 * n).astype(int)
    return [morecantile.Tile(int(a), int(b), z) for a, b in sorted(set(zip(x, y, strict=True)))]


def zone_points(state) -> np.ndarray:
    """Every vertex of every zone of every rule set, in lon/lat."""
    frames = [z.to_crs("EPSG:4326") for z in state.context.zones.values()]
    return shapely.get_coordinates(np.concatenate([f.geometry.to_numpy() for f in frames]))


def synthetic_addresses(
    seed: int, *, categorical: bool, collide: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """400 addresses on Samsø in the service's table shape, with what the bundle lacks: ids
    repeated and missing, ids in many Arrow chunks, repeated address texts whose first copy lies
    outside a tile, a missing house number, addresses without a position and, with ``collide``,
    two different streets and numbers that spell one text (``Lille`` + ``Vej 3`` and
    ``Lille Vej`` + ``3``)."""
    rng = np.random.default_rng(seed)
    n = 400
    ids = [f"id-{i:04d}" for i in range(n)]
    ids[50], ids[333], ids[7] = ids[10], ids[120], None
    streets = rng.choice(["Strandvejen", "Bygaden", "Lille", "Lille Vej", "Ålevej"], n)
    numbers = rng.integers(1, 25, n).astype(str).astype(object)
    numbers[3] = None
    if collide:
        streets[[30, 300]], numbers[[30, 300]] = ["Lille", "Lille Vej"], ["Vej 3", "3"]
    chunks = [pa.array(ids[i : i + 37], pa.large_string()) for i in range(0, n, 37)]
    east, north = 590_000 + rng.uniform(0, 4_000, n), 6_190_000 + rng.uniform(0, 4_000, n)
    east[[5, 99]] = np.nan
    postcodes, towns = rng.choice(["8305", "8300"], n), rng.choice(["Samsø", "Odder"], n)
    # rows 10 and 50 (one id), 30 and 300 (one text with ``collide``) in one zoom 16 tile
    east[[50, 30, 300]], north[[50, 30, 300]] = east[10] + 1, north[10] + 1
    postcodes[[30, 300]], towns[[30, 300]] = "8305", "Samsø"
    text = {
        "vejnavn": streets,
        "husnr": numbers,
        "postnr": postcodes,
        "postnrnavn": towns,
        "kommunekode": np.full(n, "0741"),
    }
    addresses = pd.DataFrame(
        {
            "id": pd.arrays.ArrowStringArray(pa.chunked_array(chunks)),
            **{
                k: pd.Categorical(v) if categorical else pd.array(v, "str") for k, v in text.items()
            },
            "east": east,
            "north": north,
            "generated": rng.random(n) < 0.1,
        }
    )
    assessment = pd.DataFrame(
        {
            "class": pd.Categorical(rng.choice(CLASS_PRIORITY, n)),
            **{
                c: rng.choice([np.nan, 0, 10, 33.3, 100, 1000], n).astype("float32") for c in SPEEDS
            },
            "best_tech": pd.Categorical(rng.choice(["fiber", "coax", "xdsl", None], n)),
            "generated": rng.random(n) < 0.1,
        }
    )
    return addresses, assessment


@pytest.mark.parametrize(
    ("categorical", "collide"), [(True, False), (True, True), (False, False), (False, True)]
)
def test_address_ids_and_texts_from_the_table_draw_the_bytes_of_factorised_columns(
    categorical, collide
):
    addresses, assessment = synthetic_addresses(3, categorical=categorical, collide=collide)
    munis = gpd.GeoDataFrame(
        {"kommunekode": ["0741"], "kommunenavn": ["Samsø"], "area_km2": [114.7]},
        geometry=[shapely.box(585_000, 6_185_000, 600_000, 6_200_000)],
        crs="EPSG:25832",
    )
    vector = VectorTiler(munis, addresses, {"r": assessment}, {}, rule_key=lambda key: key)
    lon, lat = FROM_UTM.transform(addresses["east"].to_numpy(), addresses["north"].to_numpy())
    located = np.isfinite(lon)
    drawn = 0
    for z in (12, 14, 15, 16):
        plain = (
            plain_points(addresses, assessment)
            if z >= ADDRESS_POINT_ZOOM
            else plain_cells(addresses, assessment, 100)
        )
        for t in tiles_of(lon[located], lat[located], z):
            ours = vector.tile("addresses-r", t.z, t.x, t.y)
            assert ours == plain.tile(t, "addresses"), t
            drawn += 1
    assert drawn > 20
    # a repeated id or text is one value shared by the features that have it, as factorised
    t = tiles_of(lon[[10]], lat[[10]], 16)[0]
    content = vector.tile("addresses-r", t.z, t.x, t.y)
    features = [f["properties"] for f in decode(content)["addresses"]]
    assert [p["id"] for p in features].count("id-0010") == 2 and content.count(b"id-0010") == 1
    text = "Lille Vej 3, 8305 Samsø"
    assert [p.get("address") for p in features].count(text) == 2 * collide
    assert content.count(text.encode()) == collide


def test_zones_hold_one_polygon_for_the_zooms_that_simplify_alike():
    """600 zones of 100 m cells: from zoom 8 the simplification is the same polygons at every
    zoom, held once, whatever order the zooms are asked in; tiles are those of polygons
    simplified afresh."""
    rng = np.random.default_rng(4)
    r, c = np.nonzero(rng.random((80, 80)) < 0.45)
    x, y = 590_000 + c * 100.0, 6_190_000 + r * 100.0
    parts = shapely.get_parts(shapely.coverage_union_all(shapely.box(x, y, x + 100, y + 100)))
    frame = gpd.GeoDataFrame(
        {"zone_id": [f"z{i}" for i in range(len(parts))]}, geometry=parts, crs="EPSG:25832"
    )
    layer = PolygonLayer.from_frame(frame, simplify="each")
    plain = PlainPolygons.from_frame(frame, simplify="each")
    lon, lat = FROM_UTM.transform(x, y)
    for z in (16, 8, 12, 10, 14, 9, 11, 13, 15, 5):
        near = tiles_of(lon, lat, z)
        for i in rng.choice(len(near), min(len(near), 30), replace=False):
            assert layer.tile(near[i], "zones") == plain.tile(near[i], "zones"), near[i]
    held = {id(g) for z in range(8, 17) for g in layer.at_zoom(z)}
    assert len(parts) > 500 and len(held) == len(parts)


def test_rule_sets_share_positions_polygons_and_the_tables_own_columns(client, tiles):
    """What does not depend on the rule set is one object for all of them, and the address ids
    and address parts are the service table's own arrays, not copies."""
    vector, table = tiles.vector, client.app.state.watcher.get().index.table
    first, last = (list(vector.assessments)[i] for i in (0, -1))

    def layer(base: str, rules: str, z: int):
        return vector._features(vector.layer(base, rules), z)[0]

    for z in (9, 11, 13):  # address cells of 10 km, 1 km and 100 m
        a, b = layer("addresses", first, z), layer("addresses", last, z)
        assert a.x is b.x and a.props.keys == b.props.keys
        pairs = zip(a.props.keys, a.props.columns, b.props.columns, strict=True)
        shared = {key for key, ca, cb in pairs if ca is cb}
        assert {"count", "cell", *SPEEDS} <= shared
    for z in (9, 12):
        a, b = layer("grid", first, z), layer("grid", last, z)
        assert a.geoms is b.geoms and a.tree is b.tree
    points = layer("addresses", last, 16)
    columns = dict(zip(points.props.keys, points.props.columns, strict=True))
    ids = table["id"].array.__arrow_array__()
    held = columns["id"].uniques.array
    assert held.chunk(0).buffers()[2].address == ids.chunk(0).buffers()[2].address
    streets = columns["address"].uniques.codes[0]
    assert np.shares_memory(streets, table["vejnavn"].array.codes)


def test_texts_are_framed_like_value_messages():
    """Arrow texts framed with numpy: the bytes of one ``value_message`` per text in a ``values``
    field, for empty, multi-byte and long (two-byte length) texts, sliced arrays included."""
    rng = np.random.default_rng(8)
    letters = list("abz æøå,Ω€😀")
    texts = ["".join(rng.choice(letters, rng.integers(0, 90 if i % 5 else 12))) for i in range(200)]
    for kind in (pa.string(), pa.large_string()):
        array = pa.array(["skipped", *texts], kind).slice(1)
        want = b""
        for text in texts:
            message = value_message(text)
            want += b"\x22" + varints(np.array([len(message)])) + message
        assert framed_texts(array) == want
        assert framed_texts(array.slice(0, 0)) == b""
