"""The address register (DAR / DAWA access addresses, adgangsadresser) as a validated point table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Transformer

from coverage import arrowtext
from coverage.addresstext import house_number_key, postcode_key
from coverage.csvio import read_text_csv
from coverage.errors import SourceError
from coverage.grid import cell_name_array
from coverage.parquetio import (
    ROW_GROUP_ROWS,
    RowGroups,
    point_bbox,
    point_wkb,
    row_groups,
    schema_of,
    with_extent,
)
from coverage.quarantine import Quarantine
from coverage.types import WEB_CRS, WORK_CRS
from coverage.validate import (
    UUID_PATTERN,
    classify_lonlat,
    classify_projected,
    duplicated_first_line,
    parse_numbers,
)

SOURCE = "addresses"
REQUIRED = ["id", "vejnavn", "husnr", "postnr", "kommunekode"]
EAST, NORTH = "etrs89koordinat_øst", "etrs89koordinat_nord"
LAT, LON = "wgs84koordinat_bredde", "wgs84koordinat_længde"

#: Columns the reader uses; the DDKN and region columns are recomputed, so they are not parsed.
USED_COLUMNS = [
    *REQUIRED,
    "supplerendebynavn",
    "postnrnavn",
    "zone",
    "generated",
    "etrs89koordinat_øst",
    "etrs89koordinat_nord",
    "wgs84koordinat_bredde",
    "wgs84koordinat_længde",
]

#: Planning zones as the register spells them, keyed by a folded spelling.
ZONES = {
    "byzone": "Byzone",
    "landzone": "Landzone",
    "sommerhusomraade": "Sommerhusområde",
    "sommerhusområde": "Sommerhusområde",
    "sommerhuszone": "Sommerhusområde",
}

#: Columns of the address table in a release, in order.
ADDRESS_COLUMNS = [
    "id",
    "vejnavn",
    "husnr",
    "supplerendebynavn",
    "postnr",
    "postnrnavn",
    "kommunekode",
    "kommunenavn",
    "zone",
    "east",
    "north",
    "ddkn_m100",
    "ddkn_km1",
    "ddkn_km10",
    "generated",
    "source_file",
    "source_line",
]


@dataclass
class AddressRead:
    """Accepted addresses of one file, and how many of its lines were read.

    ``addresses`` is the lean working frame: the release's columns without the DDKN cells and the
    geometry (both derived from east / north, see :func:`release_frame`), low-cardinality text as
    categoricals.
    """

    addresses: pd.DataFrame
    rows_read: int


_TO_25832 = Transformer.from_crs(WEB_CRS, WORK_CRS, always_xy=True)


def read_addresses(
    path: str | Path,
    municipalities: dict[str, str],
    quarantine: Quarantine,
    *,
    generated: bool = False,
) -> AddressRead:
    """Read one register CSV, quarantine bad rows, return the rest with EPSG:25832 coordinates.

    ``municipalities`` maps the region's kommunekode to kommunenavn: an address whose code is not
    among them is refused (the address's own code is the truth, not a point-in-polygon test at the
    generalised coast).
    """
    table = read_text_csv(path, required=REQUIRED, columns=USED_COLUMNS, what="address register")
    frame, lines = table.frame, table.lines
    path = table.path
    for line, reason in table.bad_lines:
        quarantine.add(SOURCE, path, [line], "(row)", [""], reason)

    has_etrs = EAST in frame.columns and NORTH in frame.columns
    has_wgs = LAT in frame.columns and LON in frame.columns
    if not has_etrs and not has_wgs:
        raise SourceError(
            path,
            f"address register has no coordinates: expected {EAST}/{NORTH} (EPSG:25832) "
            f"or {LAT}/{LON} (WGS84)",
        )

    bad = np.zeros(len(frame), dtype=bool)

    def reject(mask: np.ndarray, field: str, reason: str | np.ndarray) -> None:
        nonlocal bad
        if not mask.any():
            return
        reasons = reason[mask] if isinstance(reason, np.ndarray) else reason
        quarantine.add(
            SOURCE,
            path,
            lines[mask],
            field,
            frame[field].to_numpy()[mask],
            pd.Series(reasons) if isinstance(reasons, np.ndarray) else reasons,
        )
        bad |= mask

    ids = frame["id"].str.lower()  # Arrow-backed: stays in Arrow
    reject(
        ~arrowtext.fullmatch(ids, UUID_PATTERN),
        "id",
        "not a register UUID (expected 8-4-4-4-12 hex digits)",
    )
    dup, first = duplicated_first_line(ids, lines)
    if dup.any():
        reasons = np.full(len(frame), "", dtype=object)
        reasons[dup] = [f"duplicate id, first seen on line {n}" for n in first]
        reject(dup, "id", reasons)
    reject((frame["vejnavn"] == "").to_numpy(), "vejnavn", "street name is empty")
    husnr = house_number_key(frame["husnr"])
    reject(
        husnr.isna().to_numpy(),
        "husnr",
        "not a house number (expected 1-999 with an optional letter, e.g. 10A)",
    )
    postnr = postcode_key(frame["postnr"])
    reject(postnr.isna().to_numpy(), "postnr", "not a 4-digit postcode")
    kode = arrowtext.zfill(frame["kommunekode"], 4)
    not_code = ~arrowtext.fullmatch(kode, r"\d{4}")
    reject(not_code, "kommunekode", "not a 4-digit municipality code")
    outside = ~kode.isin(list(municipalities)).to_numpy() & ~not_code
    if outside.any():
        reasons = np.full(len(frame), "", dtype=object)
        reasons[outside] = "municipality is not in the region being built"
        reject(outside, "kommunekode", reasons)

    zone_text = frame["zone"] if "zone" in frame.columns else pd.Series("", index=frame.index)
    zone = _zones(zone_text)
    reject(
        (zone.isna() & (zone_text != "")).to_numpy(),
        "zone",
        "unknown zone (expected Byzone, Landzone or Sommerhusområde, or empty for unknown)",
    )

    east, north = _coordinates(frame, has_etrs, has_wgs, reject)

    keep = np.flatnonzero(~bad)
    everything = len(keep) == len(frame)

    def kept(series: pd.Series) -> pd.Series:
        # The common case keeps every row: no copy then (copy-on-write makes astype lazy).
        if everything:
            return series.reset_index(drop=True).astype("string[pyarrow]")
        return series.iloc[keep].reset_index(drop=True).astype("string[pyarrow]")

    def kept_category(series: pd.Series) -> pd.Series:
        # A few hundred distinct values over millions of rows: codes, not one string per row.
        return kept(series).astype("category")

    kode_kept = kept_category(kode)
    out = pd.DataFrame(
        {
            "id": kept(ids),
            "vejnavn": kept(frame["vejnavn"]),
            "husnr": kept(husnr),
            "supplerendebynavn": kept_category(_optional(frame, "supplerendebynavn")),
            "postnr": kept(postnr),
            "postnrnavn": kept_category(_optional(frame, "postnrnavn")),
            "kommunekode": kode_kept,
            "kommunenavn": kode_kept.map(municipalities).astype("category"),
            "zone": kept_category(zone),
            "east": east[keep],
            "north": north[keep],
            "generated": _generated_flags(frame, generated)[keep],
            "source_file": pd.Categorical.from_codes(
                np.zeros(len(keep), dtype="int8"), categories=[str(path)]
            ),
            "source_line": lines[keep],
        }
    )
    return AddressRead(out, len(frame) + len(table.bad_lines))


def release_frame(addresses: pd.DataFrame) -> gpd.GeoDataFrame:
    """Addresses as a release stores them: text columns, DDKN cell names and point geometry.

    The build keeps a lean frame (see :func:`read_addresses`); this is the full table, for a few
    rows (the schema sample) or for a step that needs point geometry (the mobile fusion).
    """
    out = pd.DataFrame(index=addresses.index)
    east = addresses["east"].to_numpy(dtype="float64")
    north = addresses["north"].to_numpy(dtype="float64")
    cells = _cell_columns(east, north)
    for column in ADDRESS_COLUMNS:
        if column in cells:
            out[column] = pd.arrays.ArrowStringArray(cells[column].cast(pa.large_string()))
        elif column in _TEXT_CATEGORIES:
            out[column] = addresses[column].astype("string[pyarrow]")
        else:
            out[column] = addresses[column]
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(east, north), crs=WORK_CRS)


def address_row_groups(addresses: pd.DataFrame, rows: int = ROW_GROUP_ROWS) -> RowGroups:
    """The release's ``addresses`` GeoParquet table, one row group at a time.

    Reads back with ``geopandas.read_parquet`` exactly as :func:`release_frame` written with
    ``to_parquet`` would: same columns, dtypes and ``geo`` metadata; no shapely object is made.
    """
    schema = schema_of(release_frame(addresses.iloc[:1]))
    schema = with_extent(schema, addresses["east"].to_numpy(), addresses["north"].to_numpy())
    bbox_type = schema.field("bbox").type

    def derive(part: pd.DataFrame) -> dict[str, pa.Array]:
        east = part["east"].to_numpy(dtype="float64")
        north = part["north"].to_numpy(dtype="float64")
        return {
            **_cell_columns(east, north),
            "geometry": point_wkb(east, north),
            "bbox": point_bbox(east, north, bbox_type),
        }

    return row_groups(addresses, schema, derive, rows)


#: Columns held as categoricals while building and written as text.
_TEXT_CATEGORIES = ("supplerendebynavn", "postnrnavn", "kommunekode", "kommunenavn", "zone")


def _cell_columns(east: np.ndarray, north: np.ndarray) -> dict[str, pa.Array]:
    """DDKN cell names (100 m, 1 km, 10 km) of every point; derived, so never held while building."""
    return {
        column: cell_name_array(east, north, size)
        for column, size in (("ddkn_m100", 100), ("ddkn_km1", 1000), ("ddkn_km10", 10000))
    }


def _optional(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column]
    return pd.Series("", index=frame.index, dtype="string")


def _zones(values: pd.Series) -> pd.Series:
    """Register spellings of the planning zone mapped to canonical names; others become <NA>."""
    folded = arrowtext.to_arrow(values.astype("string[pyarrow]").fillna("").str.strip().str.lower())
    keys = pa.array(list(ZONES), type=pa.string())
    canonical = pa.array(list(ZONES.values()), type=pa.string())
    # index_in + take keeps the lookup inside Arrow (a handful of distinct values, millions of rows).
    positions = pc.index_in(folded, value_set=keys)
    return arrowtext.from_arrow(pc.take(canonical, positions), values.index)


def _generated_flags(frame: pd.DataFrame, generated: bool) -> np.ndarray:
    """Every row of a generated source is generated; a ``generated`` column can mark single rows."""
    if generated:
        return np.ones(len(frame), dtype=bool)
    if "generated" in frame.columns:
        return frame["generated"].str.lower().isin(["1", "true", "ja", "yes"]).to_numpy()
    return np.zeros(len(frame), dtype=bool)


def _coordinates(
    frame: pd.DataFrame,
    has_etrs: bool,
    has_wgs: bool,
    reject: Callable[[np.ndarray, str, str | np.ndarray], None],
) -> tuple[np.ndarray, np.ndarray]:
    """East / north in EPSG:25832 from the ETRS89 columns, else from the WGS84 ones.

    A row with neither pair, or with a pair that is not a Danish position, is rejected with the
    reason (degrees in the metre columns, swapped axes, outside Denmark).
    """
    n = len(frame)
    east = np.full(n, np.nan)
    north = np.full(n, np.nan)
    refused = np.zeros(n, dtype=bool)
    need_wgs = np.ones(n, dtype=bool)
    if has_etrs:
        e, bad_e = parse_numbers(frame[EAST])
        no, bad_n = parse_numbers(frame[NORTH])
        reject(bad_e, EAST, "not a number")
        reject(bad_n & ~bad_e, NORTH, "not a number")
        given = ~np.isnan(e) & ~np.isnan(no)
        reasons = classify_projected(e, no)
        wrong = given & (reasons != "")
        reject(wrong, EAST, reasons)
        ok = given & ~wrong
        east[ok], north[ok] = e[ok], no[ok]
        refused |= bad_e | bad_n | wrong
        need_wgs = ~given & ~refused
    if has_wgs and need_wgs.any():
        lat, bad_lat = parse_numbers(frame[LAT])
        lon, bad_lon = parse_numbers(frame[LON])
        reject(need_wgs & bad_lat, LAT, "not a number")
        reject(need_wgs & bad_lon & ~bad_lat, LON, "not a number")
        given = need_wgs & ~np.isnan(lat) & ~np.isnan(lon)
        reasons = classify_lonlat(lon, lat)
        wrong = given & (reasons != "")
        reject(wrong, LON, reasons)
        refused |= need_wgs & (bad_lat | bad_lon | wrong)
        convert = given & ~wrong
        if convert.any():
            east[convert], north[convert] = _TO_25832.transform(lon[convert], lat[convert])
    missing = (np.isnan(east) | np.isnan(north)) & ~refused
    reject(
        missing, EAST if has_etrs else LON, "no coordinates: expected EPSG:25832 or WGS84 values"
    )
    return east, north
