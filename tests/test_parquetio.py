"""The lean build frames: tables written row group by row group read back as ``to_parquet`` wrote
them, and the integer-key join finds what the text key finds."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from coverage.addresses import address_row_groups, read_addresses, release_frame
from coverage.addresstext import address_key
from coverage.availability import availability_row_groups, join_to_addresses
from coverage.parquetio import concat_frames, point_wkb
from coverage.quarantine import Quarantine
from coverage.release import ReleaseWriter


@pytest.fixture(scope="module")
def samsoe(data_dir):
    """The real register of Samsø as the build holds it (no geometry, categoricals)."""
    path = data_dir / "dar" / "adgangsadresser_0741_samsoe.csv"
    return read_addresses(path, {"0741": "Samsø"}, Quarantine()).addresses


def test_point_wkb_is_what_shapely_writes():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1e6, 1e6, 500)
    y = rng.uniform(-1e7, 1e7, 500)
    ours = point_wkb(x, y).to_pylist()
    assert ours == list(shapely.to_wkb(shapely.points(x, y)))


def test_addresses_in_row_groups_read_back_as_to_parquet_wrote_them(samsoe, tmp_path):
    writer = ReleaseWriter("test", tmp_path)
    writer.write_table("lean", address_row_groups(samsoe, rows=1000))  # five row groups
    expected = release_frame(samsoe)
    writer.write_table("full", expected)

    lean = pq.ParquetFile(tmp_path / "lean.parquet")
    full = pq.ParquetFile(tmp_path / "full.parquet")
    assert lean.metadata.num_row_groups == 5
    assert lean.schema_arrow.equals(full.schema_arrow, check_metadata=True)  # geo bbox included
    assert lean.read().equals(full.read())
    back = gpd.read_parquet(tmp_path / "lean.parquet")
    assert_geodataframe_equal(back, gpd.read_parquet(tmp_path / "full.parquet"))
    assert back.crs.to_epsg() == 25832
    assert writer.tables["lean"]["rows"] == len(samsoe)
    assert writer.tables["lean"]["geo"] is True


def test_availability_source_file_is_text_in_the_release(samsoe, tmp_path):
    rows = pd.DataFrame(
        {
            "address_id": pd.array([None, None], dtype="string"),
            "vejnavn": pd.array(["Aavej", "Ingen Vej"], dtype="string"),
            "husnr": pd.array(["10", "1"], dtype="string"),
            "postnr": pd.array(["8305", "8305"], dtype="string"),
            "kommunenavn": pd.array(["Samsø", "Samsø"], dtype="string"),
            **{c: np.float32(0) for c in ("fiber_down", "fiber_up", "coax_down", "coax_up")},
            **{c: np.float32(0) for c in ("xdsl_down", "xdsl_up", "fwa_down", "fwa_up")},
            **{c: np.float32(0) for c in ("mobile_down", "mobile_up")},
            "year": pd.array([2026, 2026], dtype="Int16"),
            "generated": False,
            "source_file": pd.Categorical(["m.csv", "m.csv"]),
            "source_line": np.array([2, 3]),
        }
    )
    availability = join_to_addresses(rows, samsoe, Quarantine()).availability
    writer = ReleaseWriter("test", tmp_path)
    writer.write_table("availability", availability_row_groups(availability))
    back = pd.read_parquet(tmp_path / "availability.parquet")
    assert str(back["source_file"].dtype) == "str"
    assert back["source_file"].tolist() == ["m.csv", "m.csv"]
    assert back["match"].tolist() == ["key", "none"]


def test_integer_key_join_finds_the_first_address_with_an_equal_text_key():
    # Spellings that fold together (æ/ae, case, punctuation, "10 a", "800") and ones that do not.
    addresses = pd.DataFrame(
        {
            "id": pd.array([f"{i:08d}-0000-0000-0000-000000000000" for i in range(6)], "string"),
            "vejnavn": pd.array(
                ["Æblevej", "M.B. Jensens Vej", "M.B. Jensensvej", "Æblevej", "Ny Vej", "Ny Vej"],
                dtype="string",
            ),
            "husnr": pd.array(["10A", "2", "2", "10A", "1", "1"], dtype="string"),
            "postnr": pd.array(["0800", "8305", "8305", "0800", "8305", "8000"], dtype="string"),
        }
    )
    rows = pd.DataFrame(
        {
            "address_id": pd.array([None] * 7, dtype="string"),
            "vejnavn": pd.array(
                [
                    "aeblevej",
                    "M B  Jensens vej",
                    "m.b. jensensvej",
                    "Ny Vej",
                    "Ny Vej",
                    "Nyvej",
                    "",
                ],
                dtype="string",
            ),
            "husnr": pd.array(["10 a", "2", "2", "1", "1", "1", "x"], dtype="string"),
            "postnr": pd.array(["800", "8305", "8305", "8000", "8000", "8305", "8305"], "string"),
            "source_file": pd.Categorical(["m.csv"] * 7),
            "source_line": np.arange(2, 9),
        }
    )
    for column in ("fiber_down", "fiber_up", "coax_down", "coax_up", "xdsl_down", "xdsl_up"):
        rows[column] = np.float32(1)
    for column in ("fwa_down", "fwa_up", "mobile_down", "mobile_up", "year", "generated"):
        rows[column] = 0
    rows["kommunenavn"] = "x"
    q = Quarantine()
    joined = join_to_addresses(rows, addresses, q)

    # The text key, computed independently: the first address with the same key, if any.
    addr_key = address_key(addresses["vejnavn"], addresses["husnr"], addresses["postnr"])
    row_key = address_key(rows["vejnavn"], rows["husnr"], rows["postnr"])
    first = {k: addresses["id"][i] for i, k in reversed(list(enumerate(addr_key))) if pd.notna(k)}
    expected = [first.get(k) if pd.notna(k) else None for k in row_key]
    # Row 5 (line 6) repeats row 4's address and is quarantined; the rest keep their order.
    kept = [e for i, e in enumerate(expected) if i != 4]
    got = [None if pd.isna(v) else v for v in joined.availability["address_id"]]
    assert got == kept
    assert got[:4] == [
        addresses["id"][0],
        addresses["id"][1],
        addresses["id"][2],
        addresses["id"][5],
    ]
    assert joined.counts["duplicates"] == 1
    assert q.frame()["line"].tolist() == [6]
    assert "first on line 5" in q.frame()["reason"].iloc[0]


def test_concat_keeps_categoricals_of_several_files():
    a = pd.DataFrame({"source_file": pd.Categorical(["b.csv"]), "n": [1]})
    b = pd.DataFrame({"source_file": pd.Categorical(["a.csv", "a.csv"]), "n": [2, 3]})
    both = concat_frames([a, b])
    assert isinstance(both["source_file"].dtype, pd.CategoricalDtype)
    assert both["source_file"].tolist() == ["b.csv", "a.csv", "a.csv"]
    assert list(both["source_file"].cat.categories) == ["a.csv", "b.csv"]
