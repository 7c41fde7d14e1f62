"""The address index: free text, ids, positions and autocomplete, on crafted tables and the bundle."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from coverage.answer import LookupContext, lookup
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.lookup import AddressIndex, parse_query

TO_LONLAT = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)

# id suffix, street, number, supplementary town, postcode, town, municipality code, east, north
ROWS = [
    (1, "Åvej", "10", "", "8000", "Aarhus C", "0751", 575000.0, 6224000.0),
    (2, "Åvej", "10A", "", "8000", "Aarhus C", "0751", 575010.0, 6224000.0),
    (3, "Hovedgaden", "1", "", "8000", "Aarhus C", "0751", 575100.0, 6224100.0),
    (4, "Hovedgaden", "1", "", "8300", "Odder", "0727", 570000.0, 6200000.0),
    (5, "M.B. Jensens Vej", "7", "Hou", "8300", "Odder", "0727", 571000.0, 6201000.0),
    (6, "Møllegade", "3", "", "8000", "Aarhus C", "0751", 575200.0, 6224200.0),
    (7, "Møllegadevej", "3", "", "8000", "Aarhus C", "0751", 575300.0, 6224300.0),
    (8, "Strandvejen", "52", "Ballen", "8305", "Samsø", "0741", 602323.82, 6187544.08),
    (9, "Strandvejen", "5", "Ballen", "8305", "Samsø", "0741", 602600.0, 6187544.08),
    (10, "Strandvejen", "50", "Ballen", "8305", "Samsø", "0741", 602353.82, 6187544.08),
    (11, "Strandvejen", "52", "", "8000", "Aarhus C", "0751", 575400.0, 6224400.0),
]
NAMES = {"0751": "Aarhus", "0727": "Odder", "0741": "Samsø"}


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture(scope="module")
def index() -> AddressIndex:
    frame = pd.DataFrame(
        ROWS,
        columns=[
            "n", "vejnavn", "husnr", "supplerendebynavn", "postnr", "postnrnavn",
            "kommunekode", "east", "north",
        ],
    )  # fmt: skip
    frame.insert(0, "id", frame.pop("n").map(uid))
    frame["kommunenavn"] = frame["kommunekode"].map(NAMES)
    frame["zone"] = pd.array([pd.NA] * len(frame), dtype="string")
    frame["generated"] = False
    addresses = gpd.GeoDataFrame(
        frame, geometry=shapely.points(frame["east"], frame["north"]), crs="EPSG:25832"
    )
    availability = pd.DataFrame(
        {
            "row_id": [0, 1],
            "address_id": pd.array([uid(8), pd.NA], dtype="string"),
            "vejnavn": ["Strandvejen", "Bryggerbakken"],
            "husnr": ["52", "5"],
            "postnr": ["8305", "8305"],
            "kommunenavn": ["Samsø", "Samsø"],
        }
    )
    return AddressIndex.from_frames(addresses, availability)


def lonlat(east: float, north: float) -> tuple[float, float]:
    return TO_LONLAT.transform(east, north)


@pytest.mark.parametrize(
    ("text", "street", "number", "letter", "postcode", "town"),
    [
        ("Strandvejen 52, 8305 Samsø", "strandvejen", 52, 0, "8305", "samsoe"),
        ("STRANDVEJEN 52", "strandvejen", 52, 0, None, ""),
        ("Strandvejen52 8305", "strandvejen", 52, 0, "8305", ""),
        ("strand vejen 52 samsoe", "strandvejen", 52, 0, None, "samsoe"),
        ("Åvej 10 A", "aavej", 10, 1, None, ""),
        ("aavej 10a, 8000 Aarhus C", "aavej", 10, 1, "8000", "aarhusc"),
        ("8305 Strandvejen 52", "strandvejen", 52, 0, "8305", ""),
        ("M.B. Jensens Vej 7, 1. th, 8300", "mbjensensvej", 7, 0, "8300", ""),
        ("Møllegade", "moellegade", None, 0, None, ""),
    ],
)
def test_parse_query_is_forgiving(text, street, number, letter, postcode, town):
    q = parse_query(text)
    assert (q.street, q.number, q.letter, q.postcode, q.town) == (
        street,
        number,
        letter,
        postcode,
        town,
    )


@pytest.mark.parametrize(
    "text",
    [
        "Strandvejen 52, 8305 Samsø",
        "strandvejen 52 samsoe",
        "Strandvejen52 8305",
        "strandvejen 52, 8305",
        "Strandvjen 52 8305",  # typo: fuzzy, restricted to streets in 8305 with a number 52
        "8305 Strandvejen 52",
    ],
)
def test_sloppy_spellings_resolve_to_one_address(index, text):
    assert index.resolve(text).id == uid(8)


def test_danish_letters_and_house_number_letters(index):
    assert index.resolve("Aavej 10 A").id == uid(2)
    assert index.resolve("åvej 10a").id == uid(2)
    assert index.resolve("AAVEJ 10").id == uid(1)  # 10 is not 10A
    assert index.resolve("M B Jensens Vej 7").id == uid(5)
    assert index.resolve("mb jensensvej 7 hou").id == uid(5)  # supplementary town name
    assert index.resolve("Møllegade 3").id == uid(6)  # the exact street, not Møllegadevej


def test_the_same_address_in_two_towns_needs_the_postcode_or_town(index):
    with pytest.raises(NotFoundError) as caught:
        index.resolve("Hovedgaden 1")
    assert "postcode or town" in str(caught.value)
    assert {s["id"] for s in caught.value.suggestions} == {uid(3), uid(4)}
    assert index.resolve("Hovedgaden 1, 8300").id == uid(4)
    assert index.resolve("hovedgaden 1 odder").id == uid(4)
    assert index.resolve("hovedgaden 1 aarhus").id == uid(3)


def test_unknown_text_gives_nearby_numbers_as_suggestions(index):
    with pytest.raises(NotFoundError) as caught:
        index.resolve("Strandvejen 51, 8305")
    texts = [s["text"] for s in caught.value.suggestions]
    assert texts[:2] == ["Strandvejen 50, 8305 Samsø", "Strandvejen 52, 8305 Samsø"]
    assert len(texts) <= 5
    with pytest.raises(NotFoundError) as caught:
        index.resolve("Strandvejen 52 Odder")  # the town does not match: not a silent answer
    assert caught.value.suggestions
    with pytest.raises(NotFoundError) as caught:
        index.resolve("Qwxzyk 1")
    assert caught.value.suggestions == []
    with pytest.raises(NotFoundError):
        index.resolve("8305")  # no street at all


def test_unmatched_mapping_row_is_found_by_text_and_id(index):
    hit = index.resolve("Bryggerbakken 5, 8305 Samsø")
    assert hit.id == "mapping:8305:bryggerbakken:5"
    assert hit.position_known is False
    assert index.by_id(hit.id) == hit.entry
    assert index.lonlat(hit.entry) is None


def test_by_id(index):
    assert index.ids[index.by_id(uid(8).upper())] == uid(8)
    with pytest.raises(NotFoundError):
        index.by_id(uid(99))
    with pytest.raises(InvalidRequestError, match="UUID"):
        index.by_id("'; drop table")


def test_autocomplete_ranks_exact_street_and_number_first(index):
    texts = [h.text for h in index.autocomplete("strandvejen 5", 10)]
    assert texts[0] in {"Strandvejen 5, 8305 Samsø"}
    assert set(texts[1:]) == {
        "Strandvejen 50, 8305 Samsø",
        "Strandvejen 52, 8000 Aarhus C",
        "Strandvejen 52, 8305 Samsø",
    }
    assert [h.text for h in index.autocomplete("Møllegade", 2)] == [
        "Møllegade 3, 8000 Aarhus C",
        "Møllegadevej 3, 8000 Aarhus C",
    ]
    assert [h.text for h in index.autocomplete("strandvejen 52, 83", 5)] == [
        "Strandvejen 52, 8305 Samsø"
    ]
    assert [h.text for h in index.autocomplete("strandvejen 52 s", 5)] == [
        "Strandvejen 52, 8305 Samsø"
    ]
    fuzzy = index.autocomplete("strandvjen 52", 5)
    assert {h.quality for h in fuzzy} == {"fuzzy"} and len(fuzzy) == 2
    assert index.autocomplete("zzzz", 5) == []
    assert len(index.autocomplete("s", 3)) == 3


def test_nearest_within_50_m_and_far_from_everything(index):
    lon, lat = lonlat(602323.82 + 10, 6187544.08)
    entry, point = index.nearest(lon, lat)
    assert index.ids[entry] == uid(8)
    assert point.distance_m == pytest.approx(10, abs=0.01)
    lon, lat = lonlat(602338.82 + 0.1, 6187544.08)  # just nearer 50 than 52
    assert index.ids[index.nearest(lon, lat)[0]] == uid(10)
    lon, lat = lonlat(602323.82, 6187544.08 + 1000)
    with pytest.raises(NotFoundError) as caught:
        index.nearest(lon, lat)
    assert [s["id"] for s in caught.value.suggestions][:2] == [uid(8), uid(10)]
    with pytest.raises(InvalidRequestError, match="not in Denmark"):
        index.nearest(2.35, 48.85)
    with pytest.raises(InvalidRequestError):
        index.nearest(float("nan"), 56.0)


def test_lookup_needs_exactly_one_question(index, bundle_release):
    context = LookupContext(bundle_release)
    with pytest.raises(InvalidRequestError, match="exactly one"):
        lookup(index, context)
    with pytest.raises(InvalidRequestError, match="exactly one"):
        lookup(index, context, q="Åvej 10", id=uid(1))
    with pytest.raises(InvalidRequestError, match="together"):
        lookup(index, context, lon=10.6)
    with pytest.raises(InvalidRequestError, match="empty"):
        lookup(index, context, q="   ")


# -- the real bundle --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(bundle_release) -> tuple[AddressIndex, LookupContext]:
    index = AddressIndex.from_release(bundle_release)
    return index, LookupContext.from_release(bundle_release, index.addresses, index.availability)


def test_bundle_index_holds_addresses_and_unmatched_rows(bundle):
    index, _ = bundle
    assert len(index) == 4591 + 105
    assert int((index.addr_row < 0).sum()) == 105
    assert int(np.isnan(index.east).sum()) == 105


def test_bundle_strandvejen_52_answer(bundle):
    index, context = bundle
    ids = {
        lookup(index, context, q=q)["address"]["id"]
        for q in ("Strandvejen 52, 8305 Samsø", "strandvejen 52 samsoe", "STRANDVEJEN 52")
    }
    assert ids == {"0a3f5095-3dfc-32b8-e044-0003ba298018"}
    answer = lookup(index, context, q="Strandvejen52 8305")
    assert answer["fixed"]["best"] == {"down": 30.0, "up": None, "technology": "xdsl"}
    assert answer["fixed"]["technologies"]["fiber"] == {"down": 0.0, "up": 0.0}
    assert answer["mobile"]["declared"]["down"] == 200.0
    assert answer["mobile"]["declared"]["year"] == 2026
    # The bundle has masts but no measurements: one modelled observation, none measured.
    kinds = [o["kind"] for o in answer["mobile"]["observations"]]
    assert kinds == ["modelled"]
    modelled = answer["mobile"]["observations"][0]
    assert modelled["rsrp_outdoor_dbm"] > modelled["rsrp_indoor_dbm"]
    assert modelled["source"].startswith("model") and modelled["date"]
    pool = answer["pool"]["2024-2025"]
    assert pool["class"] == "eligible_if_zone"  # the bundle has no zones: never a silent yes
    assert {r["criterion"] for r in pool["reasons"]} >= {"zone"}
    assert "30" in pool["reason_da"] and "30" in pool["reason_en"]
    assert pool["zone_ids"] and all(z.startswith("0741-") for z in pool["zone_ids"])
    assert answer["release"]["id"] == context.release.id
    assert (
        "Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026"
        in (answer["sources"]["attribution"])
    )


def test_bundle_answer_names_the_register_100_m_cell(bundle, bundle_release):
    # The service derives the cell from the position instead of holding the column.
    index, context = bundle
    table = pd.read_parquet(bundle_release.table_path("addresses"), columns=["id", "ddkn_m100"])
    for row in table.sample(300, random_state=1).itertuples():
        assert lookup(index, context, id=row.id)["address"]["ddkn_m100"] == row.ddkn_m100


def test_bundle_unmatched_row_answers_without_position(bundle):
    index, context = bundle
    answer = lookup(index, context, q="Bryggerbakken 5, 8305")
    assert answer["address"]["position_known"] is False
    assert answer["address"]["ddkn_m100"] is None
    assert answer["address"]["lon"] is None and answer["address"]["kommunekode"] == "0741"
    assert answer["fixed"]["best"]["technology"] == "fiber"
    assert answer["pool"]["2024-2025"]["class"] == "not_eligible"
    assert lookup(index, context, id=answer["address"]["id"])["address"] == answer["address"]


@pytest.mark.slow
def test_autocomplete_is_fast_on_a_region_sized_index():
    """850,000 synthetic addresses on 30,000 streets: p99 under 20 ms per query (best of 2 runs
    per query, so another process on the shared machine does not count as our latency)."""
    rng = np.random.default_rng(7)
    n = 850_000
    syllables = np.array(["ab", "bo", "da", "el", "fi", "gu", "hy", "is", "kæ", "lø", "må", "ne"])
    parts = [rng.choice(syllables, 30_000) for _ in range(3)]
    endings = rng.choice(["vej", "gade", "vænget", "stien", "allé"], 30_000)
    streets = np.unique(
        np.char.add(np.char.add(np.char.add(parts[0], parts[1]), parts[2]), endings)
    )
    streets = np.char.capitalize(streets)
    street = rng.choice(streets, n)
    number = rng.integers(1, 250, n).astype(str)
    postcodes = rng.choice(np.arange(7000, 8900, 5), n).astype(str)
    frame = pd.DataFrame(
        {
            "id": np.char.add(
                "00000000-0000-4000-8000-", np.char.zfill(np.arange(n).astype(str), 12)
            ),
            "vejnavn": street,
            "husnr": number,
            "supplerendebynavn": "",
            "postnr": postcodes,
            "postnrnavn": np.char.add("By ", postcodes),
            "east": rng.uniform(450_000, 620_000, n),
            "north": rng.uniform(6_150_000, 6_300_000, n),
        }
    )
    empty = pd.array([], dtype="string")
    availability = pd.DataFrame(
        dict.fromkeys(("address_id", "vejnavn", "husnr", "postnr", "kommunenavn"), empty)
    )
    index = AddressIndex.from_frames(frame, availability)
    assert len(index) == n and len(index.streets) > 5000
    queries = []
    for i in range(100):
        k = int(rng.integers(n))
        s, h, p = street[k], number[k], postcodes[k]
        queries += [s[: 1 + i % len(s)], f"{s} {h[:1]}", f"{s} {h}, {p[:2]}", f"{s[:-2]}q {h}"]
    times = []
    for q in queries:
        best = np.inf
        for _ in range(2):
            t = time.perf_counter()
            hits = index.autocomplete(q, 10)
            best = min(best, time.perf_counter() - t)
        times.append(best * 1000)
        assert len(hits) <= 10
    assert np.percentile(times, 99) < 20, np.percentile(times, [50, 95, 99])


def test_a_register_address_beats_an_unmatched_mapping_row_of_similar_spelling(bundle):
    # The register has "M.B. Jensensvej"; the mapping has unmatched rows spelt "M.B. Jensens Vej".
    index, context = bundle
    answer = lookup(index, context, q="M.B. Jensensvej 5, 8305 Samsø")
    assert answer["address"]["in_register"] is True
    assert answer["address"]["vejnavn"] == "M.B. Jensensvej"
    assert answer["address"]["position_known"] is True
