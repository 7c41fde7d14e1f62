"""Site ingest: the real OpenStreetMap masts of Samsø, and a generic file with bad rows."""

from __future__ import annotations

import numpy as np
import pytest

from coverage.errors import SourceError
from coverage.mobile.sites import model_sites, read_sites
from coverage.quarantine import Quarantine


def test_samsoe_masts(data_dir):
    q = Quarantine()
    sites = read_sites(data_dir / "masts" / "samsoe_masts_osm.csv", q)
    assert q.frame().empty
    assert len(sites) == 14
    mobile = sites[sites["mobile"]]
    assert len(mobile) == 8
    assert set(mobile["kind"]) == {"communication_tower"}
    # OpenStreetMap says neither operator nor technology: unknown operator, assumed 4G and 5G,
    # and the profile's default height where none is tagged.
    assert set(mobile["operator"]) == {"unknown"}
    assert set(mobile["technologies"]) == {"4G;5G"}
    assert set(mobile["height_m"]) == {30.0}
    fixed = sites[~sites["mobile"]]
    assert set(fixed["operator"]) == {"Foreningen Samsø Bredbånd"}
    assert set(fixed["technologies"]) == {""}
    mast = sites.set_index("site_id").loc["1857270923"]
    assert mast["height_m"] == 32.0
    assert mast.geometry.x == pytest.approx(600295.13)
    assert sites.crs.to_epsg() == 25832
    # The model sees 8 sites × 2 technologies; the association's masts are left out.
    assert len(model_sites(sites)) == 16


def test_generic_file_with_bad_rows(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(
        "\n".join(
            [
                "site_id,operator,technologies,height_m,azimuth,power,lon,lat",
                "s1,TDC,4G;5G NSA,36,120,30,10.63,55.81",
                "s2,Telenor,LTE,,,,10.60,55.83",
                "s3,Vodafone,4G,30,,,10.6,55.8",
                "s4,Telia,2G,30,,,10.6,55.8",
                "s5,Telia,4G,900,,,10.6,55.8",
                "s6,Telia,4G,30,400,,10.6,55.8",
                "s1,TDC,4G,30,,,10.6,55.8",
                "s8,3,4G,30,,,55.8,10.6",
                "s9,3,4G,30,,,ti,55.8",
            ]
        ),
        encoding="utf-8",
    )
    q = Quarantine()
    sites = read_sites(path, q)
    assert list(sites["site_id"]) == ["s1", "s2"]
    s1, s2 = sites.iloc[0], sites.iloc[1]
    assert (s1["technologies"], s1["azimuth"], s1["power"]) == ("4G;5G", 120.0, 30.0)
    assert s2["technologies"] == "4G" and s2["height_m"] == 30.0
    assert np.isnan(s2["azimuth"]) and np.isnan(s2["power"])
    refused = {int(r.line): (r.field, r.reason) for r in q.frame().itertuples()}
    assert refused[4][0] == "operator" and "expected one of TDC" in refused[4][1]
    assert refused[5][0] == "technologies"
    assert refused[6] == ("height_m", "height_m out of range (expected 2 to 300 m)")
    assert refused[7][0] == "azimuth"
    assert refused[8] == ("site_id", "duplicate site id, first seen on line 2")
    assert refused[9] == ("lon", "longitude and latitude look swapped")
    assert refused[10] == ("lon", "not a number (expected WGS84 degrees)")


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,lon,lat\ns1,10.6,55.8\n", encoding="utf-8")
    with pytest.raises(SourceError, match="lacks required column"):
        read_sites(path, Quarantine())
    with pytest.raises(SourceError, match="unknown site profile"):
        read_sites(path, Quarantine(), profile="nope")
