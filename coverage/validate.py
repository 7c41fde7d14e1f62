"""Vectorised field checks shared by the readers.

Each check takes a text column and returns the parsed values plus a boolean mask of rows that fail,
so a reader can quarantine exactly those rows with a reason and keep the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage import arrowtext
from coverage.types import DENMARK_BOUNDS_25832, DENMARK_BOUNDS_LONLAT

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


_NUMBER = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from text, accepting a decimal comma; returns (values, bad) with NaN for empty.

    ``bad`` marks text that is present but not a number. Parsed inside Arrow (a regex test and a
    cast), which is an order of magnitude faster than ``pd.to_numeric`` on Arrow strings.
    """
    arr = pc.utf8_trim_whitespace(arrowtext.to_arrow(values))
    arr = pc.replace_substring(arr, ",", ".")
    empty = pc.equal(arr, "")
    ok = pc.match_substring_regex(arr, f"^{_NUMBER}$")
    numbers = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.float64())
    out = numbers.to_numpy(zero_copy_only=False).astype("float64", copy=False)
    bad = ~(ok.to_numpy(zero_copy_only=False) | empty.to_numpy(zero_copy_only=False))
    return np.asarray(out, dtype="float64"), np.asarray(bad, dtype=bool)


def duplicated_first_line(
    keys: pd.Series | pa.ChunkedArray | np.ndarray, lines: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mask of repeated keys (all but the first) and, for those, the line of the first one.

    Text keys are hashed to integer codes inside Arrow; integer keys (a numpy array) are used as
    they are. The first occurrence of each comes from ``np.unique``, so millions of keys cost a sort
    of integers, not Python hashing of strings.
    """
    code = keys if isinstance(keys, np.ndarray) else arrowtext.codes(keys)
    if len(code) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype="int64")
    # return_index gives the first position of each distinct key (numpy sorts stably for it).
    _, first_pos, inverse = np.unique(code, return_index=True, return_inverse=True)
    firsts = first_pos[inverse.ravel()]
    dup = firsts != np.arange(len(code))
    return dup, np.asarray(lines)[firsts[dup]]


def classify_projected(east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """Why an EPSG:25832 coordinate pair is not a Danish position: '' when it is.

    Recognises lon/lat degrees written in the metre columns and east / north swapped, the two
    mistakes hand-made exports make most.
    """
    x0, y0, x1, y1 = DENMARK_BOUNDS_25832
    reason = np.full(east.shape, "", dtype=object)
    missing = np.isnan(east) | np.isnan(north)
    inside = (east >= x0) & (east <= x1) & (north >= y0) & (north <= y1)
    swapped = (north >= x0) & (north <= x1) & (east >= y0) & (east <= y1)
    degrees = (np.abs(east) <= 180) & (np.abs(north) <= 90)
    reason[~inside] = (
        "outside Denmark (expected EPSG:25832 east 420000-910000, north 6030000-6420000)"
    )
    reason[~inside & swapped] = "east and north look swapped"
    reason[~inside & degrees] = (
        "looks like lon/lat degrees, expected EPSG:25832 metres (wrong CRS?)"
    )
    reason[missing] = "missing coordinate"
    return reason


def classify_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Why a lon/lat pair is not a Danish position: '' when it is."""
    x0, y0, x1, y1 = DENMARK_BOUNDS_LONLAT
    reason = np.full(lon.shape, "", dtype=object)
    missing = np.isnan(lon) | np.isnan(lat)
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    metres = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    reason[~inside] = "outside Denmark (expected lon 7.8-15.3, lat 54.4-57.9)"
    reason[~inside & swapped] = "longitude and latitude look swapped"
    reason[~inside & metres] = "looks like metres, expected WGS84 degrees (wrong CRS?)"
    reason[missing] = "missing coordinate"
    return reason
