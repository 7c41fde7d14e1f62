"""The generators: seeded, flagged generated, on Samsø's roads and addresses, readable back."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.mobile.measurements import read_measurements, write_measurements
from coverage.mobile.model import model_rasters
from coverage.mobile.sites import read_sites
from coverage.mobile.synth import generate_sites, read_roads, synth_measurements
from coverage.quarantine import Quarantine

END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def samsoe(bundle_release, data_dir, tmp_path_factory):
    munis = bundle_release.read("municipalities")
    outline = munis.loc[munis["kommunekode"] == "0741"].geometry.iloc[0]
    sites = read_sites(data_dir / "masts" / "samsoe_masts_osm.csv", Quarantine())
    layers = model_rasters(sites, outline, tmp_path_factory.mktemp("synth"), 50)
    roads = read_roads(data_dir / "osm" / "samsoe.osm.zip")
    return layers, roads, bundle_release.read("addresses"), munis


def test_measurements_are_seeded_generated_and_where_they_should_be(samsoe, tmp_path):
    layers, roads, addresses, _ = samsoe
    a = synth_measurements(layers, 11, roads=roads, addresses=addresses, drives=3, crowd=400,
                           end=END)  # fmt: skip
    b = synth_measurements(layers, 11, roads=roads, addresses=addresses, drives=3, crowd=400,
                           end=END)  # fmt: skip
    pd.testing.assert_frame_equal(a, b)
    c = synth_measurements(layers, 12, roads=roads, addresses=addresses, drives=3, crowd=400,
                           end=END)  # fmt: skip
    assert not a["rsrp"].equals(c["rsrp"])

    assert a["generated"].all() and (a["source_file"] == "netkort synth (seed 11)").all()
    drive = a[a["source"] == "drive test"]
    crowd = a[a["source"] != "drive test"]
    assert len(crowd) == 400 and drive["device"].nunique() == 3
    assert set(drive["environment"]) == {"in vehicle"}
    assert set(crowd["environment"]) <= {"indoor", "outdoor"}
    # Drive samples lie on the roads; crowd samples within metres of an address.
    tree = shapely.STRtree(np.asarray(roads.geometry.array))
    _, dist = tree.query_nearest(np.asarray(drive.geometry.array), return_distance=True)
    assert dist.max() < 1e-6
    addr_tree = shapely.STRtree(np.asarray(addresses.geometry.array))
    _, dist = addr_tree.query_nearest(np.asarray(crowd.geometry.array), return_distance=True)
    assert np.percentile(dist, 99) < 40
    assert (a["time"] <= pd.Timestamp(END)).all()
    # Values in the ranges the reader enforces; the sample reports 5G only where 5G is usable.
    rsrp = a["rsrp"].dropna()
    assert rsrp.between(-140, -44).all()
    assert set(a["technology"]) <= {"4G", "5G NSA", "5G SA"}
    assert set(a["operator"]) == {"TDC", "Telenor", "Telia"}

    # Written out, the generated file reads back through the same checks without a refusal.
    q = Quarantine()
    back = read_measurements(write_measurements(a, tmp_path / "m.parquet"), q, now=END)
    assert q.frame().empty and len(back) == len(a) and back["generated"].all()


def test_generated_sites_density(samsoe):
    *_, munis = samsoe
    sites = generate_sites(munis, seed=4)
    again = generate_sites(munis, seed=4)
    pd.testing.assert_frame_equal(sites, again)
    assert set(sites["operator"]) == {"TDC", "Telenor", "Telia"}
    assert sites["generated"].all() and sites["mobile"].all()
    area = shapely.union_all(np.asarray(munis.geometry.array))
    assert shapely.contains_xy(area, sites["east"], sites["north"]).all()
    per_operator = sites.groupby("operator").size()
    # ~13,143 km² at one rural site per ~12 km² per operator, plus town sites.
    assert per_operator.between(1000, 1400).all()
    towns = sites[sites["kind"] == "generated town site"]
    assert towns["height_m"].max() <= 30 and sites["height_m"].max() <= 48
    assert sites["site_id"].is_unique
    half = generate_sites(munis, seed=4, density=0.5)
    assert len(half) < 0.6 * len(sites)
