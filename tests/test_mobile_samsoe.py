"""End-to-end truth on Samsø: the 8 real mobile masts, OSM clutter, the 2026 declared mobile classes.

The confusion matrices computed here are the ones printed in ``docs/mobile.md``; the test fails if
the model changes and the documentation is not updated with it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio
import shapely

from coverage.mobile.fusion import agreement, confusion_matrix, fuse
from coverage.mobile.gaps import EVERY_OPERATOR, gap_zones
from coverage.mobile.model import model_rasters
from coverage.mobile.raster import sample
from coverage.mobile.sites import read_sites
from coverage.quarantine import Quarantine
from coverage.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs" / "mobile.md"


@pytest.fixture(scope="module")
def samsoe(bundle_release, data_dir, tmp_path_factory):
    munis = bundle_release.read("municipalities")
    outline = munis.loc[munis["kommunekode"] == "0741"].geometry.iloc[0]
    sites = read_sites(data_dir / "masts" / "samsoe_masts_osm.csv", Quarantine())
    osm = data_dir / "osm" / "samsoe.osm.zip"
    out = tmp_path_factory.mktemp("samsoe")
    layers = model_rasters(sites, outline, out / "default", 50, osm)
    lte_only = sites.copy()
    lte_only.loc[lte_only["mobile"], "technologies"] = "4G"
    layers_4g = model_rasters(lte_only, outline, out / "lte", 50, osm)
    addresses = bundle_release.read("addresses")
    availability = bundle_release.read("availability")
    return {
        "outline": outline,
        "munis": munis,
        "layers": layers,
        "addresses": addresses,
        "fused": fuse(addresses, availability, layers),
        "fused_4g": fuse(addresses, availability, layers_4g),
    }


def test_rasters_are_valid_cogs_covering_samsoe(samsoe):
    layers = samsoe["layers"]
    assert sorted(la.name for la in layers) == [
        "rsrp_unknown_4g_indoor",
        "rsrp_unknown_4g_outdoor",
        "rsrp_unknown_5g_indoor",
        "rsrp_unknown_5g_outdoor",
    ]
    xmin, ymin, xmax, ymax = shapely.bounds(samsoe["outline"])
    addresses = samsoe["addresses"]
    for layer in layers:
        assert layer.sites == 8 and not layer.generated
        with rasterio.open(layer.path) as src:
            assert src.driver == "GTiff"
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.profile["tiled"]
            assert len(src.overviews(1)) >= 1
            assert src.crs.to_epsg() == 25832
            assert src.res == (50.0, 50.0)
            b = src.bounds
            assert b.left <= xmin and b.bottom <= ymin and b.right >= xmax and b.top >= ymax
        # Every address has a value, the three beyond the generalised coastline included.
        values = sample(layer.path, addresses["east"].to_numpy(), addresses["north"].to_numpy())
        assert not np.isnan(values).any()


def test_declared_classes_are_the_bundle_facts(samsoe):
    fused = samsoe["fused"]
    assert len(fused) == 4591
    declared = fused["declared_class"].value_counts()
    # 4,444 matched mapping rows: 166 / 3,360 / 918 of DOMAIN.md's 166 / 3,411 / 972 rows.
    assert declared.to_dict() == {"below 100": 166, "100–599": 3360, "600+": 918}
    assert (fused["modelled_confidence"] == "low").all()  # uncalibrated, unknown operator
    assert fused["modelled_rsrp_outdoor"].notna().all()


def _docs_matrix(marker: str) -> tuple[dict[str, list[int]], float]:
    text = DOCS.read_text(encoding="utf-8")
    block = text.split(f"<!-- confusion:{marker} -->", 1)[1]
    rows = {}
    for label in ("below 100", "100–599", "600+"):
        m = re.search(rf"^\| {re.escape(label)} \|([^\n]*)$", block, re.MULTILINE)
        assert m, f"row {label} missing under confusion:{marker}"
        cells = [c.strip().replace(",", "") for c in m.group(1).split("|") if c.strip()]
        rows[label] = [int(c) for c in cells[:3]]
    pct = re.search(r"Agreement: \*\*([\d.]+) %\*\*", block)
    assert pct, f"agreement missing under confusion:{marker}"
    return rows, float(pct.group(1))


@pytest.mark.parametrize(("marker", "key"), [("default", "fused"), ("4g-only", "fused_4g")])
def test_confusion_matrix_is_the_one_in_the_docs(samsoe, marker, key):
    matrix = confusion_matrix(samsoe[key])
    assert matrix.to_numpy().sum() == 4444
    documented, pct = _docs_matrix(marker)
    assert {k: list(v) for k, v in matrix.iterrows()} == documented
    assert round(agreement(matrix) * 100, 1) == pct


def test_gap_zones_match_the_addresses_below_threshold(samsoe):
    zones = gap_zones(samsoe["layers"], samsoe["munis"], -110.0, addresses=samsoe["addresses"])
    every = zones[(zones["operator"] == EVERY_OPERATOR) & (zones["basis"] == "model")]
    assert list(every["kommunekode"]) == ["0741"]
    zone = every.geometry.iloc[0]
    assert zone.is_valid and shapely.within(zone, samsoe["outline"].buffer(1e-6))
    fused = samsoe["fused"]
    inside = shapely.contains_xy(
        samsoe["outline"], fused["geometry"].x.to_numpy(), fused["geometry"].y.to_numpy()
    )
    below = np.full(len(fused), True)
    for layer in samsoe["layers"]:
        if layer.environment == "outdoor":
            values = sample(layer.path, fused.geometry.x.to_numpy(), fused.geometry.y.to_numpy())
            below &= values < -110.0
    assert every["addresses"].iloc[0] == int((below & inside).sum()) > 0
    assert every["area_km2"].iloc[0] > 0
