"""The lookup's fast paths against the slow truths they replace: ids as 128-bit numbers against a
dict, the point grid against brute force, row readers against ``iloc``, and the HTTP answer body
(serialised without the response model) against the declared ``LookupAnswer`` schema."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.answer import _aligned, assess_addresses
from coverage.assess import assess_many
from coverage.columns import RowReader
from coverage.idtable import IdTable
from coverage.lookup import AddressIndex
from coverage.pointgrid import PointGrid
from coverage.rules import load_rule_sets
from service.main import create_app
from service.routes.lookup import LookupAnswer
from service.settings import ServiceSettings

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"


# -- ids ------------------------------------------------------------------------------------------


def test_id_table_finds_every_id_and_gives_it_back():
    rng = np.random.default_rng(4)
    uuids = [str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 65 | i)) for i in range(500)]
    others = ["mapping:8305:bryggerbakken:5", "mapping:8000:aaboulevarden:10a", "Not-A-Uuid"]
    values = uuids + others
    entries = rng.permutation(len(values))
    table = IdTable(pd.Series(values, dtype="string"), entries)
    assert len(table) == len(values)
    for value, entry in zip(values, entries, strict=True):
        assert table[int(entry)] == value
        assert table.find(value) == entry
    assert table.find(str(uuid.UUID(int=7))) == -1
    assert table.find(uuids[0].upper()) == -1  # ids are matched as written (lower case)
    assert table.find("mapping:8305:bryggerbakken:6") == -1


def test_id_table_keeps_the_lower_entry_of_a_repeated_id():
    same = "0a3f5095-3dfc-32b8-e044-0003ba298018"
    table = IdTable(
        np.array([same, same, "mapping:1:a:1", "mapping:1:a:1"], dtype=object), [3, 1, 2, 0]
    )
    assert table.find(same) == 1 and table.find("mapping:1:a:1") == 0
    assert table[3] == table[1] == same


# -- nearest --------------------------------------------------------------------------------------


def _brute(x, y, entries, qx, qy, d):
    dist = np.sqrt((x[entries] - qx) ** 2 + (y[entries] - qy) ** 2)
    keep = dist <= d
    return entries[keep], dist[keep]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    qx=st.floats(599_000, 601_000),
    qy=st.floats(6_199_000, 6_201_000),
    d=st.sampled_from([0.0, 10.0, 50.0, 149.9, 500.0, 5000.0]),
)
def test_point_grid_agrees_with_brute_force(seed, qx, qy, d):
    rng = np.random.default_rng(seed)
    n = 400
    x = np.round(rng.uniform(599_500, 600_500, n), 1)
    y = np.round(rng.uniform(6_199_500, 6_200_500, n), 1)
    x[10:20], y[10:20] = x[0], y[0]  # equidistant duplicates: the lowest entry answers
    x[30] = np.nan  # no position: never found
    entries = np.flatnonzero(~np.isnan(x))
    grid = PointGrid(x, y, entries)
    found, dist = grid.within(qx, qy, d)
    want, want_dist = _brute(x, y, entries, qx, qy, d)
    order = np.argsort(found)
    assert found[order].tolist() == sorted(want.tolist())
    assert np.allclose(dist[order], want_dist[np.argsort(want)])
    nearest = grid.nearest(qx, qy, d)
    if len(want) == 0:
        assert nearest is None
    else:
        best = want_dist.min()
        assert nearest == (int(want[want_dist == best].min()), pytest.approx(best))


def test_point_grid_of_nothing_finds_nothing():
    grid = PointGrid(np.array([np.nan]), np.array([np.nan]), np.array([], dtype=np.int64))
    assert grid.nearest(600_000.0, 6_200_000.0, 50.0) is None
    assert len(grid.within(600_000.0, 6_200_000.0, 1e9)[0]) == 0


# -- row readers ----------------------------------------------------------------------------------


def _plain(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def test_row_reader_reads_what_iloc_reads_as_plain_values():
    n = 40_000  # more distinct texts than a code list holds: the Arrow path
    frame = pd.DataFrame(
        {
            "text": pd.array(["a", None, "æøå", ""] * (n // 4), dtype="string"),
            "arrow": pd.Series([f"cell_{i}" for i in range(n)], dtype="str"),
            "category": pd.Categorical(["x", None, "y", "x"] * (n // 4)),
            "f32": np.tile(np.array([1.5, np.nan, 0.0, 1000.25], dtype=np.float32), n // 4),
            "f64": np.tile([0.1, np.nan, 2.0, -3.0], n // 4),
            "int16": pd.array([2024, None, 2025, 0] * (n // 4), dtype="Int16"),
            "int64": np.arange(n, dtype=np.int64),
            "flag": np.tile([True, False], n // 2),
            "when": pd.Series(
                [pd.Timestamp("2026-01-02 03:04"), pd.NaT, pd.Timestamp("2025-12-31"), pd.NaT]
                * (n // 4)
            ),
        }
    )
    reader = RowReader(frame, [*frame.columns, "absent"])
    for row in [0, 1, 2, 3, 4, n - 1, n // 2 + 1]:
        got = reader.row(row)
        assert got.pop("absent") is None
        want = {c: _plain(frame[c].iloc[row]) for c in frame.columns}
        assert got == want, row
        assert all(type(got[c]) is type(want[c]) for c in got)
    assert type(reader.get("f32", 0)) is float and reader.get("f32", 3) == 1000.25


# -- the index and the HTTP answer ----------------------------------------------------------------


def test_index_reads_few_valued_texts_as_categories(bundle_release):
    index = AddressIndex.from_release(bundle_release)
    assert "geometry" not in index.table.columns
    assert isinstance(index.table["kommunenavn"].dtype, pd.CategoricalDtype)
    assert "row_id" not in index.availability.columns
    points = index.addresses  # built on first use, then kept
    assert points is index.addresses and points.crs.to_epsg() == 25832
    row = int(np.flatnonzero(points["id"] == STRANDVEJEN_52)[0])
    assert points.geometry.iloc[row].x == pytest.approx(points["east"].iloc[row])


def test_assessments_share_what_no_rule_set_changes(bundle_release):
    index = AddressIndex.from_release(bundle_release)
    shared = assess_addresses(index.table, index.availability)
    plain = assess_many(index.table, index.availability, load_rule_sets())
    assert list(shared) == list(plain)
    for rid, frame in shared.items():
        pd.testing.assert_frame_equal(frame, _aligned(plain[rid], index.table))
    first, *rest = shared.values()
    assert rest
    for frame in rest:
        assert np.shares_memory(frame["best_down"].to_numpy(), first["best_down"].to_numpy())
        assert not np.shares_memory(
            frame["class"].cat.codes.to_numpy(), first["class"].cat.codes.to_numpy()
        )


@pytest.fixture(scope="module")
def client(bundle_settings, bundle_release):
    service = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with TestClient(create_app(service)) as c:
        yield c


@pytest.mark.parametrize(
    "params",
    [
        {"q": "Strandvejen 52, 8305 Samsø"},
        {"id": STRANDVEJEN_52},
        {"id": "mapping:8305:bryggerbakken:5"},
        {"near": STRANDVEJEN_52},
    ],
)
def test_lookup_body_matches_the_declared_model_exactly(client, params):
    if "near" in params:  # a position 0.0001° east of the address: answered with a point part
        address = client.get("/api/lookup", params={"id": params["near"]}).json()["address"]
        params = {"lon": address["lon"] + 0.0001, "lat": address["lat"]}
    response = client.get("/api/lookup", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    model = LookupAnswer.model_validate(body)
    # Nothing the model would drop, add, rename or convert: the body is the model's own dump.
    assert model.model_dump(mode="json", by_alias=True) == body
    assert body["pool"] and all(p["reasons"] for p in body["pool"].values())
    assert (body["point"] is not None) == ("lon" in params)


def test_lookup_is_declared_with_its_model_in_openapi(client):
    spec = client.get("/openapi.json").json()
    get = spec["paths"]["/api/lookup"]["get"]
    ok = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/LookupAnswer"}
    names = {p["name"] for p in get["parameters"]}
    assert names == {"q", "id", "lon", "lat"}
    q = next(p for p in get["parameters"] if p["name"] == "q")
    assert q["schema"]["anyOf"][0]["maxLength"] == 200
