"""Per-address assessment: best technology, classes, reasons, zones, and the truth on Samsø."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from coverage.assess import CLASSES, assess, assess_many, assess_row, best_fixed
from coverage.errors import InvalidRequestError, SourceError
from coverage.planning import (
    canonical_zone,
    canonical_zones,
    read_zone_layer,
    resolve_zones,
    zones_for_points,
)
from coverage.rules import get_rule_set, load_rule_sets

SPEEDS = [f"{t}_{d}" for t in ("fiber", "coax", "xdsl", "fwa", "mobile") for d in ("down", "up")]
NAN = float("nan")

R2025 = get_rule_set("2025")
R2023 = get_rule_set("2023")
R2021 = get_rule_set("2021")
R2016 = get_rule_set("2016")


def mapping(rows: list[dict[str, float]], ids: list[str | None] | None = None) -> pd.DataFrame:
    """Availability rows; unspecified speeds are 0 (not offered), ids a1, a2, ..."""
    frame = pd.DataFrame([{s: r.get(s, 0.0) for s in SPEEDS} for r in rows], dtype="float32")
    names = ids if ids is not None else [f"a{i + 1}" for i in range(len(rows))]
    frame.insert(0, "address_id", pd.array(names, dtype="string"))
    frame["generated"] = False
    return frame


def register(n: int, zones: list[str | None] | None = None) -> gpd.GeoDataFrame:
    """n addresses a1..an along a line in EPSG:25832, in municipality 0741."""
    return gpd.GeoDataFrame(
        {
            "id": pd.array([f"a{i + 1}" for i in range(n)], dtype="string"),
            "kommunekode": pd.array(["0741"] * n, dtype="string"),
            "zone": pd.array(zones or [None] * n, dtype="string"),
            "generated": np.zeros(n, dtype=bool),
        },
        geometry=shapely.points(np.arange(n) * 1000.0 + 600_000, np.full(n, 6_190_000.0)),
        crs="EPSG:25832",
    )


def reasons(row: pd.Series | dict) -> dict[str, dict]:
    return {r["criterion"]: r for r in json.loads(row["reasons"])}


# --- best technology ---------------------------------------------------------------------------


def test_best_fixed_takes_highest_down_then_higher_up_then_technology_order():
    frame = mapping(
        [
            {"fiber_down": 100, "fiber_up": 100, "coax_down": 100, "coax_up": 200},
            {"fiber_down": 100, "fiber_up": 100, "coax_down": 100, "coax_up": 100},
            {"xdsl_down": 30, "xdsl_up": NAN, "fwa_down": 30, "fwa_up": 5},
            {"xdsl_down": 50, "xdsl_up": NAN, "fwa_down": 30, "fwa_up": 5},
            {},
            dict.fromkeys(SPEEDS, NAN),
        ]
    )
    best = best_fixed(frame)
    assert best["best_tech"].tolist()[:4] == ["coax", "fiber", "fwa", "xdsl"]
    assert best["best_down"].tolist()[:4] == [100, 100, 30, 50]
    assert best["best_up"].tolist()[:3] == [200, 100, 5]
    assert math.isnan(best["best_up"].iloc[3])  # the file had no xDSL upload
    assert pd.isna(best["best_tech"].iloc[4]) and best["best_down"].iloc[4] == 0
    assert best["best_up"].iloc[4] == 0  # nothing offered: nothing up either
    assert pd.isna(best["best_tech"].iloc[5]) and math.isnan(best["best_down"].iloc[5])


# --- classes on crafted frames -----------------------------------------------------------------


def test_2025_classes_speed_and_zone():
    rows = [
        {"xdsl_down": 30, "mobile_down": 200},  # a1 passes, Landzone
        {"xdsl_down": 30, "mobile_down": 600},  # a2 mobile 600 is not below 600
        {"xdsl_down": 99.5, "mobile_down": 599},  # a3 passes, Byzone: conditional
        {"fiber_down": 1000, "fiber_up": 1000, "mobile_down": 100},  # a4 fibre
        {"xdsl_down": 30, "mobile_down": 100},  # a5 passes, zone unknown
        {"xdsl_down": 30, "mobile_down": NAN},  # a6 mobile not reported
        {"xdsl_down": 30, "mobile_down": 100},  # a7 passes, Sommerhusområde
    ]
    zones = ["Landzone", "Landzone", "Byzone", "Landzone", None, "Landzone", "Sommerhusområde"]
    out = assess(register(8, [*zones, "Landzone"]), mapping(rows), R2025)
    assert out["class"].tolist() == [
        "eligible",
        "not_eligible",
        "eligible_if_zone",
        "not_eligible",
        "eligible_if_zone",
        "not_eligible",
        "eligible",
        "no_data",  # a8 has no mapping row
    ]
    assert out["speed_outcome"].tolist()[:6] == ["pass", "fail", "pass", "fail", "pass", "unknown"]
    assert out["zone_outcome"].tolist()[:5] == ["pass", "pass", "unknown", "pass", "unknown"]
    assert out["zone_source"].tolist()[:5] == ["register"] * 4 + ["unknown"]
    assert (out["rule_set"] == "2024-2025").all()
    assert list(out.columns[:17]) == [
        "address_id", "kommunekode", "best_down", "best_up", "best_tech", "mobile_down",
        "mobile_up", "zone", "zone_source", "class", "reasons", "reason_da", "reason_en",
        "rule_set", "generated", "speed_outcome", "zone_outcome",
    ]  # fmt: skip
    assert "mobile 600 ≥ 600 Mbit/s" in out["reason_en"].iloc[1]
    assert "above the ceiling" in out["reason_en"].iloc[1]
    assert "fixed 99.5 < 100" in out["reason_en"].iloc[2].lower()
    assert "fast net 99,5 < 100" in out["reason_da"].iloc[2].lower()  # Danish decimal comma
    assert (
        "byzone, which counts only in a town of under 2,000 inhabitants"
        in (out["reason_en"].iloc[2])
    )
    assert "mobile not reported" in out["reason_en"].iloc[5]
    assert "lies in a summer-house area and is eligible" in out["reason_en"].iloc[6]
    assert "not in the broadband mapping" in out["reason_en"].iloc[7]
    assert reasons(out.iloc[7])["fixed_down"]["value"] is None


def test_2023_reads_at_most_30_5_as_down_or_up():
    rows = [
        {"xdsl_down": 50, "xdsl_up": 3},  # up ≤ 5: eligible
        {"xdsl_down": 50, "xdsl_up": 10},  # both above: not eligible
        {"xdsl_down": 30, "xdsl_up": NAN},  # down ≤ 30 decides; upload unknown does not matter
        {"xdsl_down": 33, "xdsl_up": NAN},  # down above, upload unknown: cannot be shown
        {"coax_down": 30, "coax_up": 30, "mobile_down": 1000},  # mobile only counts in points
    ]
    out = assess(register(5, ["Landzone"] * 5), mapping(rows), R2023)
    assert out["class"].tolist() == [
        "eligible",
        "not_eligible",
        "eligible",
        "not_eligible",
        "eligible",
    ]
    assert out["speed_outcome"].tolist() == ["pass", "fail", "pass", "unknown", "pass"]
    first = reasons(out.iloc[0])
    assert first["fixed_down"] == {
        "criterion": "fixed_down",
        "value": 50,
        "threshold": 30,
        "comparison": "le",
        "outcome": "fail",
    }
    assert first["fixed_up"]["outcome"] == "pass" and "mobile_down" not in first
    # The sentence names what decided: the upload for a1, both values for a2.
    assert out["reason_en"].iloc[0].startswith("Upload 3 ≤ 5 Mbit/s;")
    assert out["reason_en"].iloc[1].startswith("Fixed 50 > 30 Mbit/s down (xDSL) and upload 10 > 5")
    assert "upload" not in out["reason_en"].iloc[2]
    assert "upload not reported (limit ≤ 5 Mbit/s)" in out["reason_en"].iloc[3]
    assert "kan ikke afgøres" in out["reason_da"].iloc[3]
    assert reasons(out.iloc[3])["fixed_up"]["outcome"] == "unknown"


def test_2021_blue_band_and_2016_byzone():
    rows = [
        {"xdsl_down": 8, "xdsl_up": 1},  # under 10/2
        {"xdsl_down": 15, "xdsl_up": 5},  # blue: above 10, at most 20
        {"xdsl_down": 20, "xdsl_up": 5},  # blue edge
        {"xdsl_down": 25, "xdsl_up": 5},  # above the band
        {"xdsl_down": 15, "xdsl_up": 5},  # blue, zone unknown
        {"xdsl_down": 15, "xdsl_up": NAN},  # blue whatever its unknown upload
    ]
    zones = ["Landzone", "Landzone", "Sommerhusområde", "Landzone", None, "Landzone"]
    out = assess(register(6, zones), mapping(rows), R2021)
    assert out["class"].tolist() == [
        "eligible",
        "eligible_blue",
        "eligible_blue",
        "not_eligible",
        "eligible_if_zone",
        "eligible_blue",
    ]
    assert reasons(out.iloc[1])["blue_band"]["threshold"] == [10, 20]
    assert "blue band above 10 and at most 20 Mbit/s" in out["reason_en"].iloc[1]
    assert "blå adresse (højst 5 % af et projekt)" in out["reason_da"].iloc[1]
    assert "blue band" in out["reason_en"].iloc[4] and "zone is unknown" in out["reason_en"].iloc[4]

    old = assess(register(2, ["Byzone", "Landzone"]), mapping(rows[:2]), R2016)
    assert old["class"].tolist() == ["not_eligible", "not_eligible"]
    assert (
        "byzone, which is not covered (only landzone or a summer-house area)"
        in (old["reason_en"].iloc[0])
    )
    assert old["zone_outcome"].tolist() == ["fail", "pass"]
    assert CLASSES == ("eligible", "eligible_blue", "eligible_if_zone", "not_eligible", "no_data")


def test_order_and_index_follow_the_addresses_and_generated_flags_spread():
    addresses = register(4, ["Landzone"] * 4).iloc[[2, 0, 3, 1]].set_axis([10, 11, 12, 13])
    addresses["generated"] = [False, True, False, False]
    availability = mapping(
        [{"xdsl_down": 5}, {"fiber_down": 1000, "fiber_up": 1000}, {"xdsl_down": 50}],
        ids=["a2", "a3", "a4"],
    )
    availability["generated"] = [False, False, True]
    out = assess(addresses, availability, R2025)
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["address_id"].tolist() == ["a3", "a1", "a4", "a2"]
    assert out["best_down"].tolist()[::2] == [1000, 50]
    assert out["class"].tolist() == ["not_eligible", "no_data", "eligible", "eligible"]
    assert out["generated"].tolist() == [False, True, True, False]


def test_assess_row_shares_the_logic_of_assess():
    availability = mapping([{"xdsl_down": 30, "mobile_down": 200, "mobile_up": 10}])
    for rules in load_rule_sets():
        for zone in (None, "Landzone", "Byzone"):
            frame = assess(register(1, [zone]), availability, rules).iloc[0]
            lone = {**availability.iloc[0].to_dict(), "kommunekode": "0741"}
            source = "register" if zone else None
            single = assess_row(lone, zone, rules, zone_source=source)
            for key, value in single.items():
                expected = frame[key]
                if pd.isna(expected):
                    assert value is None, key
                else:
                    assert value == expected, (rules.id, zone, key)
    lone = {"vejnavn": "Tingvej", "xdsl_down": "30", "mobile_down": 200.0, "address_id": None}
    row = assess_row(lone, "landzone", R2025)
    assert row["class"] == "eligible" and row["zone"] == "Landzone"
    assert row["zone_source"] == "layer" and row["address_id"] is None
    assert assess_row(lone, None, R2025)["class"] == "eligible_if_zone"
    with pytest.raises(InvalidRequestError, match="zone 'Midtby' is not a planning zone"):
        assess_row(lone, "Midtby", R2025)
    with pytest.raises(InvalidRequestError, match="xdsl_down: 'fast' is not a speed"):
        assess_row({**lone, "xdsl_down": "fast"}, None, R2025)


# --- zones --------------------------------------------------------------------------------------


def test_canonical_zone_accepts_register_spellings_and_planning_codes():
    assert canonical_zone("1") == canonical_zone(1) == canonical_zone(1.0) == "Byzone"
    assert canonical_zone(" landzone ") == canonical_zone("2") == "Landzone"
    for spelling in ("Sommerhusområde", "SOMMERHUSOMRAADE", "Sommerhuszone", "3"):
        assert canonical_zone(spelling) == "Sommerhusområde"
    assert canonical_zone("Bymidte") is None and canonical_zone(None) is None
    assert canonical_zones(pd.Series(["2", None, "x"])).tolist() == ["Landzone", pd.NA, pd.NA]


def test_zone_layer_beats_the_register_and_ambiguity_is_unknown(tmp_path):
    addresses = register(5, ["Byzone", "Byzone", None, "Landzone", None])
    x = np.arange(5) * 1000.0 + 600_000
    polygons = [
        shapely.box(x[0] - 10, 6_189_990, x[0] + 10, 6_190_010),  # a1: code 2 = Landzone
        shapely.box(x[2] - 10, 6_189_990, x[2] + 10, 6_190_010),  # a3: code 3
        shapely.box(x[4] - 10, 6_189_990, x[4] + 10, 6_190_010),  # a5: overlap of 1 and 2
        shapely.box(x[4] - 5, 6_189_995, x[4] + 50, 6_190_050),
    ]
    path = tmp_path / "zonekort.gpkg"
    layer_frame = gpd.GeoDataFrame({"zone": [2, 3, 1, 2]}, geometry=polygons, crs="EPSG:25832")
    pyogrio.write_dataframe(layer_frame, path)
    layer = read_zone_layer(path)
    assert layer["zone"].tolist() == ["Landzone", "Sommerhusområde", "Byzone", "Landzone"]
    assert zones_for_points(addresses, layer).tolist() == [
        "Landzone", pd.NA, "Sommerhusområde", pd.NA, pd.NA,
    ]  # fmt: skip
    zone, source = resolve_zones(addresses, layer)
    assert zone.tolist() == ["Landzone", "Byzone", "Sommerhusområde", "Landzone", pd.NA]
    assert source.tolist() == ["layer", "register", "layer", "register", "unknown"]

    # The same layer in lon/lat with text values and another field name.
    lonlat = layer_frame.assign(zonestatus=["Landzone", "sommerhus", "by", "LANDZONE"])
    lonlat = lonlat.drop(columns="zone").to_crs("EPSG:4326")
    pyogrio.write_dataframe(lonlat, tmp_path / "zoner.geojson")
    again = read_zone_layer(tmp_path / "zoner.geojson")
    assert zones_for_points(addresses, again).tolist()[:3] == [
        "Landzone", pd.NA, "Sommerhusområde",
    ]  # fmt: skip


def test_unusable_zone_layers_are_refused(tmp_path):
    box = shapely.box(600_000, 6_190_000, 601_000, 6_191_000)
    cases = {
        "nofield.gpkg": (gpd.GeoDataFrame({"name": ["x"]}, geometry=[box], crs=25832), None),
        "points.gpkg": (
            gpd.GeoDataFrame(
                {"zone": [1]}, geometry=[shapely.Point(600_000, 6_190_000)], crs=25832
            ),
            None,
        ),
        "badvalue.gpkg": (gpd.GeoDataFrame({"zone": [1, 7]}, geometry=[box, box], crs=25832), None),
        "wrongcrs.gpkg": (gpd.GeoDataFrame({"zone": [1]}, geometry=[box], crs=4326), None),
        "named.gpkg": (gpd.GeoDataFrame({"zone": [1]}, geometry=[box], crs=25832), "ZONE_KODE"),
    }
    expected = {
        "nofield.gpkg": "zone layer has no zone field: expected one of zone, zonestatus",
        "points.gpkg": "zone layer must hold polygons; feature 1 is a Point",
        "badvalue.gpkg": "1 feature(s) hold no known zone, first feature 2 with '7'",
        "wrongcrs.gpkg": "do not fit the declared CRS",
        "named.gpkg": "zone layer has no field 'ZONE_KODE'; found zone",
    }
    for name, (frame, field) in cases.items():
        pyogrio.write_dataframe(frame, tmp_path / name)
        with pytest.raises(SourceError) as info:
            read_zone_layer(tmp_path / name, field)
        assert str(info.value).startswith(str(tmp_path / name))
        assert expected[name] in str(info.value), str(info.value)
    with pytest.raises(SourceError, match="zone layer not found"):
        read_zone_layer(tmp_path / "missing.gpkg")


# --- the real bundle: Samsø ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def samsoe(bundle_release):
    return bundle_release.read("addresses"), bundle_release.read("availability")


def named(addresses: pd.DataFrame, out: pd.DataFrame, mask: pd.Series) -> list[str]:
    picked = addresses.loc[mask[mask].index]
    return sorted((picked["vejnavn"] + " " + picked["husnr"]).tolist())


def test_samsoe_2025_two_addresses_pass_the_speed_test_zone_unknown(samsoe):
    addresses, availability = samsoe
    out = assess(addresses, availability, R2025)
    assert len(out) == 4591 and (out["address_id"] == addresses["id"]).all()
    passing = out["speed_outcome"] == "pass"
    assert named(addresses, out, passing) == ["Nørreskiftevej 6", "Strandvejen 52"]
    assert set(out.loc[passing, "class"]) == {"eligible_if_zone"}
    assert set(out.loc[passing, "zone_source"]) == {"unknown"}
    assert out["class"].value_counts().to_dict() == {
        "not_eligible": 4442,
        "no_data": 147,
        "eligible_if_zone": 2,
        "eligible": 0,
        "eligible_blue": 0,
    }
    # DOMAIN.md: 4 mapping rows have best fixed download below 100; 3 of them match an address.
    assert int((best_fixed(availability)["best_down"] < 100).sum()) == 4
    assert int((out["best_down"] < 100).sum()) == 3

    strand = out[passing & (addresses["vejnavn"] == "Strandvejen")].iloc[0]
    assert (strand["best_down"], strand["best_tech"], strand["mobile_down"]) == (30, "xdsl", 200)
    assert "fixed 30 < 100 mbit/s" in strand["reason_en"].lower()
    assert "mobile 200 < 600 mbit/s" in strand["reason_en"].lower()
    assert strand["reason_da"].startswith("Fast net 30 < 100 Mbit/s (xDSL) og mobil 200 < 600")
    assert (
        "zonen er ukendt, så adressen er kun berettiget hvis den ligger i landzone"
        in (strand["reason_da"])
    )
    assert reasons(strand)["zone"]["outcome"] == "unknown"
    skaeg = out[(addresses["vejnavn"] == "Skægsholm") & (addresses["husnr"] == "7")].iloc[0]
    assert skaeg["class"] == "not_eligible"
    assert "mobile 600 ≥ 600" in skaeg["reason_en"] and "fixed 90 < 100" in (
        skaeg["reason_en"].lower()
    )


def test_samsoe_with_a_zone_column_or_layer(samsoe):
    addresses, availability = samsoe
    targets = (addresses["vejnavn"] + " " + addresses["husnr"]).isin(
        ["Strandvejen 52", "Nørreskiftevej 6"]
    )
    in_land = addresses.assign(zone=addresses["zone"].mask(targets, "Landzone"))
    out = assess(in_land, availability, R2025)
    assert out.loc[targets, "class"].tolist() == ["eligible", "eligible"]
    assert set(out.loc[targets, "zone_source"]) == {"register"}
    assert "lies in landzone and is eligible" in out.loc[targets, "reason_en"].iloc[0]

    # A crafted planning layer: Byzone boxes around the two addresses (code 1).
    boxes = shapely.buffer(addresses.geometry[targets].to_numpy(), 25, cap_style="square")
    byzone = gpd.GeoDataFrame({"zone": ["Byzone"] * 2}, geometry=boxes, crs="EPSG:25832")
    result = assess_many(addresses, availability, [R2025, R2023], zone_layer=byzone)
    new, mid = result["2024-2025"], result["2022-2023"]
    assert new.loc[targets, "class"].tolist() == ["eligible_if_zone"] * 2
    assert set(new.loc[targets, "zone_source"]) == {"layer"}
    assert (
        "byzone, which counts only in a town of under 2,000 inhabitants"
        in (new.loc[targets, "reason_en"].iloc[0])
    )
    assert mid.loc[targets, "class"].tolist() == ["not_eligible"] * 2
    strand = mid[targets & (addresses["vejnavn"] == "Strandvejen")].iloc[0]
    assert "byzone, which is not covered" in strand["reason_en"]
    assert (new.loc[~targets, "zone_source"] == "unknown").all()

    landzone = byzone.assign(zone=["Landzone"] * 2)
    out = assess(addresses, availability, R2025, zone_layer=landzone)
    assert out.loc[targets, "class"].tolist() == ["eligible"] * 2


def test_samsoe_2023_counts_and_reasons(samsoe):
    addresses, availability = samsoe
    out = assess(addresses, availability, R2023)
    assert out["class"].value_counts().to_dict() == {
        "not_eligible": 4443,
        "no_data": 147,
        "eligible_if_zone": 1,
        "eligible": 0,
        "eligible_blue": 0,
    }
    assert named(addresses, out, out["class"] == "eligible_if_zone") == ["Strandvejen 52"]
    strand = out[out["class"] == "eligible_if_zone"].iloc[0]
    assert strand["reason_en"].startswith("Fixed 30 ≤ 30 Mbit/s down (xDSL); the zone is unknown")
    assert strand["reason_da"].startswith("Fast net 30 ≤ 30 Mbit/s ned (xDSL); zonen er ukendt")
    # Four xDSL addresses above 30 down: the file has no xDSL upload, so 30/5 cannot be shown.
    unknown = out["speed_outcome"] == "unknown"
    assert named(addresses, out, unknown & (out["class"] == "not_eligible")) == [
        "Kongevejen 9", "Langgade 24A", "Nørreskiftevej 6", "Skægsholm 7",
    ]  # fmt: skip
    for text in out.loc[unknown & (out["class"] == "not_eligible"), "reason_en"]:
        assert "upload not reported (limit ≤ 5 Mbit/s)" in text
    fibre = out["best_tech"] == "fiber"
    assert int(fibre.sum()) == 4439 and set(out.loc[fibre, "speed_outcome"]) == {"fail"}
    assert set(out.loc[fibre, "reason_en"]) == {
        "Fixed 1000 > 30 Mbit/s down (fibre) and upload 1000 > 5 Mbit/s, so the address is above "
        "the ceiling and not eligible."
    }


def test_samsoe_unmatched_row_is_assessed_by_assess_row(samsoe):
    _addresses, availability = samsoe
    tingvej = availability[(availability["vejnavn"] == "Tingvej") & (availability["husnr"] == "7A")]
    assert len(tingvej) == 1 and tingvej["address_id"].isna().all()
    row = assess_row(tingvej.iloc[0].to_dict(), None, R2025)
    assert row["best_down"] == 0 and row["best_tech"] is None
    assert row["class"] == "not_eligible"
    assert row["reason_en"].startswith("Fixed 0 < 100 Mbit/s (no fixed network offered) and")
    assert "mobile 1000 ≥ 600" in row["reason_en"]
