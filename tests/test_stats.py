"""Statistics per municipality, assess_release, and ``netkort stats`` / ``netkort assess``."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coverage.assess import assess_many
from coverage.cli import app
from coverage.errors import InvalidRequestError, NotFoundError, RuleSetError
from coverage.rules import get_rule_set, load_rule_sets
from coverage.stats import SPEED_MEASURES, assess_release, municipality_stats, release_stats

SAMSOE = "0741"
FIXED = ["fiber", "coax", "xdsl", "fwa"]


def test_crafted_municipalities_counts_shares_and_an_empty_one():
    addresses = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "kommunekode": ["0741", "0741", "0741", "0727", "0727"],
            "zone": [None, "Landzone", None, None, None],
            "generated": [False, False, False, True, True],
        }
    )
    availability = pd.DataFrame(
        {
            "address_id": pd.array(["a", "b", "d", None, None], dtype="string"),
            "kommunenavn": ["Samsø", "Samsø", "Odder", "Samsø", "Atlantis"],
            "fiber_down": [1000, 0, 0, 1000, 0],
            "fiber_up": [1000, 0, 0, 1000, 0],
            "xdsl_down": [0, 30, 100, 0, 0],
            "xdsl_up": [np.nan, np.nan, 30, np.nan, np.nan],
            "mobile_down": [600, 200, 100, 50, 50],
            "mobile_up": [50, 10, 5, 3, 3],
            "generated": [False, False, True, False, False],
        }
    )
    municipalities = pd.DataFrame(
        {"kommunekode": ["0727", "0741", "0751"], "kommunenavn": ["Odder", "Samsø", "Aarhus"]}
    )
    rules = load_rule_sets()
    table = municipality_stats(
        addresses,
        assess_many(addresses, availability, rules),
        availability,
        municipalities,
        region_name="Region Test",
    )
    assert table["kommunekode"].tolist() == ["0727", "0741", "0751", pd.NA]
    assert table["level"].tolist() == ["municipality"] * 3 + ["region"]
    assert table["kommunenavn"].tolist() == ["Odder", "Samsø", "Aarhus", "Region Test"]
    rows = table.set_index(table["kommunekode"].fillna("region"))
    assert rows.loc["0741", ["addresses", "with_data", "no_data", "real", "generated"]].tolist() == [
        3, 2, 1, 3, 0,
    ]  # fmt: skip
    assert rows.loc["0727", ["addresses", "with_data", "real", "generated"]].tolist() == [
        2,
        1,
        0,
        2,
    ]
    assert rows.loc["0741", "fixed_30"] == 2 and rows.loc["0741", "fixed_100"] == 1
    assert rows.loc["0741", "fixed_30_share"] == 1.0 and rows.loc["0741", "fixed_100_share"] == 0.5
    assert rows.loc["0727", "fixed_100_30"] == 1  # xDSL 100/30 counts: any technology
    assert rows.loc["0741", "mobile_600"] == 1 and rows.loc["0741", "mobile_100_share"] == 1.0
    assert rows.loc["0741", "unmatched_rows"] == 1  # the Samsø row; Atlantis is nobody's
    assert rows.loc["region", "unmatched_rows"] == 2
    assert rows.loc["0741", "eligible_if_zone_2024-2025"] == 0
    assert rows.loc["0741", "eligible_2024-2025"] == 1  # b: xDSL 30, mobile 200, Landzone
    # Aarhus has no addresses: its shares are null, not 0; its counts are 0.
    aarhus = rows.loc["0751"]
    assert aarhus["addresses"] == 0
    assert all(pd.isna(aarhus[f"{m}_share"]) for m in SPEED_MEASURES)
    region = rows.loc["region"]
    numeric = [c for c in table.columns if c.endswith(tuple("0123456789")) or c == "addresses"]
    for column in numeric:
        if not column.endswith("_share"):
            assert region[column] == rows.loc[["0727", "0741", "0751"], column].sum(), column
    assert region["fixed_100_share"] == pytest.approx(2 / 3)


def test_samsoe_stats_match_a_direct_pandas_computation(bundle_release):
    table = release_stats(bundle_release)
    assert len(table) == 20 and table["level"].tolist().count("municipality") == 19
    munis = bundle_release.read("municipalities")
    assert table["kommunekode"].dropna().tolist() == sorted(munis["kommunekode"])
    empty = table[(table["level"] == "municipality") & (table["kommunekode"] != SAMSOE)]
    assert (empty["addresses"] == 0).all()
    assert empty[[f"{m}_share" for m in SPEED_MEASURES]].isna().all().all()

    addresses = bundle_release.read("addresses")
    availability = bundle_release.read("availability")
    matched = availability.dropna(subset=["address_id"])
    joined = addresses[["id"]].merge(
        matched, left_on="id", right_on="address_id", how="left", validate="one_to_one"
    )
    has = joined["address_id"].notna()
    best = joined[[f"{t}_down" for t in FIXED]].max(axis=1)
    any_100_30 = pd.concat(
        [(joined[f"{t}_down"] >= 100) & (joined[f"{t}_up"] >= 30) for t in FIXED], axis=1
    ).any(axis=1)
    expected = {
        "addresses": len(addresses),
        "with_data": int(has.sum()),
        "no_data": int((~has).sum()),
        "unmatched_rows": int(availability["address_id"].isna().sum()),
        "fixed_30": int((best >= 30).sum()),
        "fixed_100": int((best >= 100).sum()),
        "fixed_1000": int((best >= 1000).sum()),
        "fixed_100_30": int(any_100_30.sum()),
        "mobile_100": int((joined["mobile_down"] >= 100).sum()),
        "mobile_600": int((joined["mobile_down"] >= 600).sum()),
        "real": len(addresses),
        "generated": 0,
    }
    samsoe = table[table["kommunekode"] == SAMSOE].iloc[0]
    region = table[table["level"] == "region"].iloc[0]
    for column, value in expected.items():
        assert samsoe[column] == value, column
        assert region[column] == value, column
    assert (samsoe["addresses"], samsoe["with_data"], samsoe["unmatched_rows"]) == (4591, 4444, 105)
    for measure in SPEED_MEASURES:
        assert samsoe[f"{measure}_share"] == pytest.approx(expected[measure] / 4444)
    assert samsoe["eligible_if_zone_2024-2025"] == 2 and samsoe["eligible_2024-2025"] == 0
    assert samsoe["eligible_if_zone_2022-2023"] == 1
    assert samsoe["eligible_2016-2020"] == samsoe["eligible_if_zone_2016-2020"] == 0
    assert region["kommunenavn"] == "Region Midtjylland"


def test_assess_release_reads_once_and_keys_by_rule_set(bundle_release):
    result = assess_release(bundle_release, ["2025", "2024", "2023"])
    assert list(result) == ["2024-2025", "2022-2023"]
    assert all(len(frame) == 4591 for frame in result.values())
    assert list(assess_release(bundle_release)) == [r.id for r in load_rule_sets()]
    with pytest.raises(RuleSetError):
        assess_release(bundle_release, ["1999"])


def run(args: list[str]):
    return CliRunner().invoke(app, args)


@pytest.fixture
def wide_console(monkeypatch):
    """Rich tables are 80 columns wide off a terminal; widen them so cells are not cut."""
    from coverage.cli.common import out

    monkeypatch.setattr(out, "_width", 250)


def test_netkort_stats_json_and_csv(bundle_settings, bundle_release):
    home = str(bundle_settings.home)
    result = run(["stats", "--json", "--home", home])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["release_id"] == bundle_release.id and payload["generated"] is False
    assert payload["rule_sets"] == ["2016-2020", "2021", "2022-2023", "2024-2025"]
    rows = payload["rows"]
    assert len(rows) == 20 and rows[-1]["level"] == "region" and rows[-1]["kommunekode"] is None
    samsoe = next(r for r in rows if r["kommunekode"] == SAMSOE)
    assert samsoe["addresses"] == 4591 and samsoe["eligible_if_zone_2024-2025"] == 2
    aarhus = next(r for r in rows if r["kommunekode"] == "0751")
    assert aarhus["addresses"] == 0 and aarhus["fixed_100_share"] is None

    one = run(["stats", "--json", "--home", home, "--rules", "2025", "-m", "Samsø", "-m", "751"])
    assert one.exit_code == 0, one.output
    picked = json.loads(one.stdout)
    assert picked["rule_sets"] == ["2024-2025"]
    assert [r["kommunekode"] for r in picked["rows"]] == [SAMSOE, "0751", None]
    assert "eligible_2021" not in picked["rows"][0]

    csv = run(["stats", "--csv", "--home", home, "--sort", "addresses", "--desc"])
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(io.StringIO(csv.stdout), dtype={"kommunekode": str})
    assert frame["kommunekode"].iloc[0] == SAMSOE and frame["level"].iloc[-1] == "region"
    assert frame["addresses"].iloc[0] == 4591 and len(frame) == 20


def test_netkort_stats_table_and_errors(bundle_settings, wide_console):
    home = str(bundle_settings.home)
    table = run(["stats", "--home", home, "-q", "--rules", "2025"])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "Samsø" in text and "Viborg" in text and "Region Midtjylland" in text
    assert "│ 0741 │ Samsø │ 4,591 │ 147 │ 100.0% │" in text
    assert "0 +2 if zone" in text
    both = run(["stats", "--home", home, "--json", "--csv"])
    assert isinstance(both.exception, InvalidRequestError)
    bad_sort = run(["stats", "--home", home, "--sort", "speed", "--json"])
    assert isinstance(bad_sort.exception, InvalidRequestError)
    assert "no such column" in str(bad_sort.exception)
    nowhere = run(["stats", "--home", home, "-m", "Aarhuus", "--json"])
    assert isinstance(nowhere.exception, NotFoundError)
    assert {"kommunekode": "0751", "kommunenavn": "Aarhus"} in nowhere.exception.suggestions


def test_netkort_assess_lists_addresses_with_reasons(bundle_settings, wide_console):
    home = str(bundle_settings.home)
    result = run(
        ["assess", "--home", home, "--rules", "2025", "--class", "eligible_if_zone", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rule_set"] == "2024-2025" and payload["matched"] == 2
    got = sorted(f"{a['vejnavn']} {a['husnr']}" for a in payload["addresses"])
    assert got == ["Nørreskiftevej 6", "Strandvejen 52"]
    first = payload["addresses"][0]
    assert [r["criterion"] for r in first["reasons"]] == ["fixed_down", "mobile_down", "zone"]
    assert first["reason_da"].startswith("Fast net 3")

    csv = run(["assess", "--home", home, "--rules", "2023", "-m", "0741", "--csv", "--limit", "5"])
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(io.StringIO(csv.stdout), dtype=str)
    assert len(frame) == 5 and set(frame["rule_set"]) == {"2022-2023"}
    table = run(["assess", "--home", home, "--rules", "2025", "--class", "eligible_if_zone"])
    text = " ".join(table.stdout.split())
    assert "Strandvejen 52, 8305 Samsø" in text and "30/? xdsl" in text
    bad = run(["assess", "--home", home, "--class", "maybe"])
    assert isinstance(bad.exception, InvalidRequestError)
    assert get_rule_set("2025").id == "2024-2025"
