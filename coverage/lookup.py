"""Find an address by free text, register id or position, and build the answer a citizen reads.

The index is built once per release from every register address plus the broadband-mapping rows that
matched no address: those have no position, but a citizen can still find them by text. Searching runs
on integer arrays sorted by (street, house number, letter, postcode), so a street or a street prefix is
one contiguous slice found with ``np.searchsorted`` and filters are vectorised integer comparisons;
no query scans the 850,000 strings of a region. Fuzzy matching (rapidfuzz) runs over the few tens of
thousands of distinct street names only, restricted to streets that have the asked house number or
postcode, and only when no exact or prefix match answers (:mod:`coverage.addresssearch`). Ids are
128-bit numbers searched by bisection (:mod:`coverage.idtable`); nearest-address queries read a
sorted grid of cells in EPSG:25832, where distances are metres (:mod:`coverage.pointgrid`). Neither
holds a Python object per address, which keeps a region's index small.

The answer itself (:func:`lookup`) is a plain dict shared by the HTTP service and ``netkort lookup``.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from coverage.addressquery import ParsedQuery, compact_names, house_numbers, parse_query
from coverage.addresssearch import MAX_SUGGESTIONS, Hit, TextSearch
from coverage.addresstext import address_text, street_key
from coverage.assess import availability_positions
from coverage.columns import RowReader
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.idtable import IdTable
from coverage.pointgrid import PointGrid
from coverage.release import Release
from coverage.servetables import read_tables
from coverage.types import DENMARK_BOUNDS_LONLAT, WEB_CRS, WORK_CRS

log = logging.getLogger(__name__)

#: How far (metres) a position may lie from an address and still answer for it.
NEAREST_DISTANCE = 50.0
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAPPING_ID = re.compile(r"mapping:\d{4}:[a-z0-9-]+:\d{1,3}[a-z]?")


#: Columns of one address and one mapping row that an answer reads.
ANSWER_ADDRESS_FIELDS = (
    "supplerendebynavn",
    "kommunekode",
    "kommunenavn",
    "zone",
    "generated",
)
ANSWER_MAPPING_FIELDS = (
    "kommunenavn",
    "generated",
    *(f"{t}_{d}" for t in ("fiber", "coax", "xdsl", "fwa", "mobile") for d in ("down", "up")),
    "year",
    "source_file",
)

_local = threading.local()


def _transformer(to_work: bool) -> Transformer:
    """One transformer per thread and direction: a PROJ context must not be shared by threads."""
    key = "to_work" if to_work else "to_web"
    t = getattr(_local, key, None)
    if t is None:
        src, dst = (WEB_CRS, WORK_CRS) if to_work else (WORK_CRS, WEB_CRS)
        t = Transformer.from_crs(src, dst, always_xy=True)
        setattr(_local, key, t)
    return t


class PointInfo(NamedTuple):
    """A position asked for, in both CRSs, and its distance to the address that answers for it."""

    lon: float
    lat: float
    east: float
    north: float
    distance_m: float


def _text_array(series: pd.Series) -> np.ndarray:
    """Text values as an object array with "" for missing."""
    return series.astype("string").fillna("").to_numpy(dtype=object)


def _factorize(*parts: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32) into one sorted vocabulary of distinct texts, over several columns read as one.

    Each column is factorized on its own (pyarrow does that without a Python string per row) and
    only the small vocabularies are merged: a region's 850,000 rows never become Python objects.
    Missing values become "".
    """
    codes, values, offset = [], [], 0
    for part in parts:
        c, u = pd.factorize(part)
        u = np.append(np.asarray(u, dtype=object), "")
        codes.append(np.where(c < 0, len(u) - 1, c).astype(np.int64) + offset)
        values.append(u)
        offset += len(u)
    vocab, inverse = np.unique(np.concatenate(values).astype(str), return_inverse=True)
    return inverse[np.concatenate(codes)].astype(np.int32), vocab.astype(object)


@dataclass
class AddressIndex(TextSearch):
    """Every address of a release (plus unmatched mapping rows) ready for text, id and point search.

    Arrays are in index order: sorted by street, number, letter, postcode. ``addr_row`` and
    ``avail_row`` point back into the release's ``addresses`` (kept as ``table``, see
    :attr:`addresses`) and ``availability`` tables (-1: none). ``ids[entry]`` is an entry's id.
    """

    table: pd.DataFrame
    availability: pd.DataFrame
    ids: IdTable
    text_codes: np.ndarray
    text_values: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    street_id: np.ndarray
    num: np.ndarray
    letter: np.ndarray
    postnr: np.ndarray
    town_id: np.ndarray
    subtown_id: np.ndarray
    addr_row: np.ndarray
    avail_row: np.ndarray
    east: np.ndarray
    north: np.ndarray
    streets: np.ndarray
    street_start: np.ndarray
    towns: np.ndarray
    grid: PointGrid

    @classmethod
    def from_release(cls, release: Release) -> AddressIndex:
        """Build the index from a release's addresses, availability and postcode tables.

        Only the columns a service uses are read (:func:`coverage.servetables.read_tables`), without
        the point geometry (850,000 shapely points are ~175 MB); :attr:`addresses` builds the points
        on first use.
        """
        postcodes = release.read("postcodes") if release.has_table("postcodes") else None
        return cls.from_frames(*read_tables(release), postcodes)

    @classmethod
    def from_frames(
        cls,
        addresses: pd.DataFrame,
        availability: pd.DataFrame,
        postcodes: pd.DataFrame | None = None,
    ) -> AddressIndex:
        """Build the index from release-shaped tables (see ``coverage/addresses.py`` and
        ``coverage/availability.py`` for their columns)."""
        addresses = addresses.reset_index(drop=True)
        availability = availability.reset_index(drop=True)
        n_addr = len(addresses)
        loose = availability[availability["address_id"].isna()]
        # Arrow's hash join on the id strings: no copy of the matched rows, no Python string per id.
        addr_avail = availability_positions(addresses["id"], availability).astype(np.int64)

        # A mapping row without an address has no town: take the postcode's name.
        towns_by_postnr: dict[str, str] = {}
        if postcodes is not None and len(postcodes):
            towns_by_postnr = dict(zip(postcodes["postnr"], postcodes["postbynavn"], strict=False))
        known = addresses[["postnr", "postnrnavn"]].drop_duplicates("postnr")
        towns_by_postnr.update(
            dict(zip(_text_array(known["postnr"]), _text_array(known["postnrnavn"]), strict=True))
        )
        loose_postnr = _text_array(loose["postnr"])
        loose_town = np.array([towns_by_postnr.get(p, "") for p in loose_postnr], dtype=object)
        loose_town = np.where(loose_town == "", _text_array(loose["kommunenavn"]), loose_town)
        loose_ids = (
            "mapping:"
            + loose["postnr"].astype("string")
            + ":"
            + street_key(loose["vejnavn"]).str.replace(" ", "-", regex=False)
            + ":"
            + loose["husnr"].astype("string").str.lower()
        )

        # Display texts as codes into small vocabularies: street, number, postcode, town.
        vej, vej_values = _factorize(addresses["vejnavn"], loose["vejnavn"])
        hus, hus_values = _factorize(addresses["husnr"], loose["husnr"])
        post, post_values = _factorize(addresses["postnr"], loose_postnr)
        town, town_values = _factorize(addresses["postnrnavn"], loose_town)
        sub, sub_values = _factorize(
            addresses["supplerendebynavn"], np.full(len(loose), "", dtype=object)
        )
        streets, street_of = compact_names(vej_values)
        towns, town_of = compact_names(np.concatenate([town_values, sub_values]))
        nums, letters = house_numbers(hus_values)
        postnrs = pd.to_numeric(pd.Series(post_values), errors="coerce").fillna(-1).to_numpy()

        street_id = street_of[vej]
        num, letter = nums[hus], letters[hus]
        postnr = postnrs.astype(np.int16)[post]
        east = np.concatenate([addresses["east"].to_numpy(float), np.full(len(loose), np.nan)])
        north = np.concatenate([addresses["north"].to_numpy(float), np.full(len(loose), np.nan)])
        addr_row = np.concatenate([np.arange(n_addr), np.full(len(loose), -1)]).astype(np.int32)

        order = np.lexsort((postnr, letter, num, street_id))
        street_id = street_id[order]
        addr_row = addr_row[order]
        entry_of_row = np.empty(len(order), dtype=np.int64)
        entry_of_row[order] = np.arange(len(order))
        ids = IdTable(
            pd.concat([addresses["id"].astype("string"), loose_ids.astype("string")]),
            entry_of_row,
        )
        east, north = east[order], north[order]
        return cls(
            table=addresses,
            availability=availability,
            ids=ids,
            text_codes=np.column_stack([vej, hus, post, town])[order],
            text_values=(vej_values, hus_values, post_values, town_values),
            street_id=street_id,
            num=num[order],
            letter=letter[order],
            postnr=postnr[order],
            town_id=town_of[town[order]],
            subtown_id=town_of[len(town_values) + sub[order]],
            addr_row=addr_row,
            avail_row=np.concatenate([addr_avail, loose.index.to_numpy()]).astype(np.int32)[order],
            east=east,
            north=north,
            streets=streets,
            street_start=np.searchsorted(street_id, np.arange(len(streets) + 1)),
            towns=towns,
            grid=PointGrid(east, north, np.flatnonzero(~np.isnan(east))),
        )

    def __post_init__(self) -> None:
        self.street_list = self.streets.tolist()  # rapidfuzz takes a list; convert once
        self.town_list = self.towns.tolist()
        # What an answer reads of one address and one mapping row, prepared once: iloc per answer
        # built a pandas Series of every column and was half of an answer's time.
        self.address_fields = RowReader(self.table, ANSWER_ADDRESS_FIELDS)
        self.mapping_fields = RowReader(self.availability, ANSWER_MAPPING_FIELDS)

    @cached_property
    def addresses(self) -> gpd.GeoDataFrame:
        """The release's addresses as points in EPSG:25832 (tiles, features, point queries).

        Built from ``east`` / ``north`` on first use when the table was read without its geometry,
        then kept: lookups never need it, so a service that only answers lookups never pays for it.
        """
        if isinstance(self.table, gpd.GeoDataFrame):
            return self.table
        points = shapely.points(
            self.table["east"].to_numpy(float), self.table["north"].to_numpy(float)
        )
        return gpd.GeoDataFrame(self.table, geometry=points, crs=WORK_CRS)

    def __len__(self) -> int:
        return len(self.ids)

    # -- display ------------------------------------------------------------------------------

    def parts(self, entry: int) -> tuple[str, str, str, str]:
        """Street, house number, postcode and town of an entry, as written."""
        codes = self.text_codes[entry]
        vej, hus, post, town = (str(v[c]) for v, c in zip(self.text_values, codes, strict=True))
        return vej, hus, post, town

    def text(self, entry: int) -> str:
        """Display text as Danish addresses are written: ``Strandvejen 52, 8305 Samsø``."""
        return address_text(*self.parts(entry))

    def hit(self, entry: int, quality: str) -> Hit:
        """The search result for one entry."""
        return Hit(
            int(entry),
            str(self.ids[entry]),
            self.text(entry),
            quality,
            bool(not np.isnan(self.east[entry])),
        )

    def suggestions(self, entries: np.ndarray) -> list[dict[str, str]]:
        """Up to five ``{id, text}`` suggestions for a not-found answer."""
        return [{"id": str(self.ids[e]), "text": self.text(e)} for e in entries[:MAX_SUGGESTIONS]]

    # -- id ---------------------------------------------------------------------------------------

    def by_id(self, address_id: str) -> int:
        """The entry of a register UUID or a mapping-row id (``mapping:8305:bryggerbakken:5``)."""
        key = address_id.strip().lower()
        if not (_UUID.fullmatch(key) or _MAPPING_ID.fullmatch(key)):
            raise InvalidRequestError(
                f"id {address_id!r} is not an address id: expected a register UUID "
                "(8-4-4-4-12 hex digits) or a mapping id such as mapping:8305:bryggerbakken:5"
            )
        found = self.ids.find(key)
        if found >= 0:
            return found
        raise NotFoundError(f"no address with id {key} in this release")

    # -- position ---------------------------------------------------------------------------------

    def nearest(
        self, lon: float, lat: float, max_distance: float = NEAREST_DISTANCE
    ) -> tuple[int, PointInfo]:
        """The entry of the address nearest to a lon/lat within ``max_distance`` metres, and the
        position in both CRSs with its distance to that address.

        Raises InvalidRequestError outside Denmark, and NotFoundError (suggesting the five nearest
        addresses within 5 km) when no address is that close.
        """
        xmin, ymin, xmax, ymax = DENMARK_BOUNDS_LONLAT
        if not (
            np.isfinite(lon) and np.isfinite(lat) and xmin <= lon <= xmax and ymin <= lat <= ymax
        ):
            raise InvalidRequestError(
                f"position lon={lon}, lat={lat} is not in Denmark: expected lon {xmin} to {xmax} and "
                f"lat {ymin} to {ymax} (degrees, WGS84)"
            )
        east, north = _transformer(True).transform(lon, lat)
        found = self.grid.nearest(east, north, max_distance)
        if found is None:
            near, d = self.grid.within(east, north, 5000.0)
            entries = near[np.lexsort((near, d))]  # nearest first; equidistant in index order
            raise NotFoundError(
                f"no address within {max_distance:g} m of lon={lon}, lat={lat}",
                self.suggestions(entries),
            )
        entry, distance = found  # equidistant: the first in index order
        return entry, PointInfo(float(lon), float(lat), float(east), float(north), distance)

    def lonlat(self, entry: int) -> tuple[float, float] | None:
        """The entry's position in lon/lat, or None for a mapping row without an address."""
        if np.isnan(self.east[entry]):
            return None
        lon, lat = _transformer(False).transform(self.east[entry], self.north[entry])
        return float(lon), float(lat)


__all__ = [
    "NEAREST_DISTANCE",
    "AddressIndex",
    "Hit",
    "ParsedQuery",
    "PointInfo",
    "parse_query",
]
