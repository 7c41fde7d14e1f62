"""Measured mobile samples (drive tests, crowdsourced speed tests, apps) as a validated point table.

A measurement file is CSV (any encoding and separator, read as text) or GeoParquet (a point geometry
in any CRS, or coordinate columns). Columns are matched by name, case-insensitively, with a few
common spellings accepted (see :data:`FIELDS`). Rows with a bad value are quarantined with the file,
line, field, value and reason, and the rest are kept; a file that cannot be used at all raises
:class:`~coverage.errors.SourceError`.

Line numbers: in a CSV the header is line 1 and the first row line 2, as an editor shows them; in a
Parquet file, which has no header line, ``line`` is the 1-based row number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from coverage.csvio import read_text_csv
from coverage.errors import SourceError
from coverage.mobile.vocab import (
    ENVIRONMENTS,
    MEASUREMENT_SOURCES,
    OPERATORS,
    TECHNOLOGIES,
    normalise_categorical,
)
from coverage.quarantine import Quarantine
from coverage.types import MAX_SPEED_MBIT, WEB_CRS, WORK_CRS
from coverage.validate import classify_lonlat, classify_projected, parse_numbers

SOURCE = "measurements"

#: netkort's field names and the column names accepted for each (first is canonical).
FIELDS: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "datetime", "tid"),
    "x": ("x", "east", "etrs89_east", "easting"),
    "y": ("y", "north", "etrs89_north", "northing"),
    "lon": ("lon", "longitude", "lng"),
    "lat": ("lat", "latitude"),
    "operator": ("operator", "mno", "network"),
    "technology": ("technology", "tech", "rat"),
    "rsrp": ("rsrp", "rsrp_dbm"),
    "rsrq": ("rsrq", "rsrq_db"),
    "sinr": ("sinr", "sinr_db"),
    "down": ("down", "down_mbit", "download", "download_mbit"),
    "up": ("up", "up_mbit", "upload", "upload_mbit"),
    "latency": ("latency", "latency_ms", "ping", "ping_ms"),
    "environment": ("environment", "env"),
    "source": ("source", "kind"),
    "device": ("device", "device_id", "anonymous_device"),
}
REQUIRED = ("time", "operator", "technology", "device")

#: Accepted ranges of the measured values: (low, high, units). RSRP is the 3GPP reporting range.
RANGES: dict[str, tuple[float, float, str]] = {
    "rsrp": (-140.0, -44.0, "dBm"),
    "rsrq": (-34.0, 3.0, "dB"),
    "sinr": (-23.0, 40.0, "dB"),
    "down": (0.0, MAX_SPEED_MBIT, "Mbit/s"),
    "up": (0.0, MAX_SPEED_MBIT, "Mbit/s"),
    "latency": (0.0, 10_000.0, "ms"),
}

#: A clock a few minutes fast is not a future measurement.
FUTURE_TOLERANCE = timedelta(minutes=5)

#: Columns of the measurement table, in order (plus ``geometry``).
MEASUREMENT_COLUMNS = [
    "time",
    "east",
    "north",
    "operator",
    "technology",
    "rsrp",
    "rsrq",
    "sinr",
    "down",
    "up",
    "latency",
    "environment",
    "source",
    "device",
    "generated",
    "source_file",
    "source_line",
]

_TO_25832 = Transformer.from_crs(WEB_CRS, WORK_CRS, always_xy=True)


def read_measurements(
    path: str | Path,
    quarantine: Quarantine,
    *,
    generated: bool = False,
    now: datetime | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV or GeoParquet file of measurements; quarantine bad rows; points in EPSG:25832.

    Each row needs a time (ISO 8601; a time without offset is read as UTC), a position in Denmark
    (x/y in EPSG:25832 or lon/lat, or a point geometry), operator, technology (2G, 3G, 4G, 5G NSA,
    5G SA), an anonymous device id, and at least an RSRP or a download speed. ``now`` is the
    reference for "not in the future" (default: the current time).
    """
    path = Path(path)
    frame, lines, east, north = _load(path, quarantine)
    reference = (now or datetime.now(UTC)).astimezone(UTC)
    out = validate_rows(frame, lines, east, north, path, quarantine, generated, reference)
    geometry = shapely.points(out["east"].to_numpy(), out["north"].to_numpy())
    return gpd.GeoDataFrame(out, geometry=geometry, crs=WORK_CRS)


def _load(
    path: Path, quarantine: Quarantine
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The file's rows with canonical column names, their line numbers and any geometry position."""
    if path.suffix.lower() in (".parquet", ".geoparquet", ".pq"):
        return _load_parquet(path)
    table = read_text_csv(path, what="measurement file")
    for line, reason in table.bad_lines:
        quarantine.add(SOURCE, path, [line], "(row)", [""], reason)
    frame = canonical_columns(table.frame, path, has_geometry=False)
    return frame, table.lines, None, None


def _load_parquet(
    path: Path,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, np.ndarray | None]:
    if not path.exists():
        raise SourceError(path, "measurement file not found")
    try:
        frame: pd.DataFrame = gpd.read_parquet(path)
    except ValueError:  # no geometry column: a plain Parquet table with coordinate columns
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise SourceError(path, f"measurement file cannot be read as Parquet: {exc}") from None
    except Exception as exc:
        raise SourceError(path, f"measurement file cannot be read as Parquet: {exc}") from None
    if len(frame) == 0:
        raise SourceError(path, "measurement file has no rows")
    east = north = None
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            raise SourceError(path, "measurement geometry has no CRS; expected EPSG:25832 or 4326")
        geoms = np.asarray(frame.geometry.array)
        kinds = shapely.get_type_id(geoms)
        not_point = (kinds != 0) & ~shapely.is_missing(geoms)
        if not_point.any():
            row = int(np.flatnonzero(not_point)[0]) + 1
            raise SourceError(path, f"row {row}: geometry is not a point; expected point samples")
        work = frame.geometry.to_crs(WORK_CRS)
        east = shapely.get_x(np.asarray(work.array)).astype("float64")
        north = shapely.get_y(np.asarray(work.array)).astype("float64")
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    lines = np.arange(1, len(frame) + 1, dtype="int64")
    return canonical_columns(frame, path, has_geometry=east is not None), lines, east, north


def canonical_columns(frame: pd.DataFrame, path: Path, *, has_geometry: bool) -> pd.DataFrame:
    """Rename accepted spellings to netkort's field names; refuse a file without the essentials."""
    by_folded = {str(c).strip().casefold(): c for c in frame.columns}
    renames = {}
    for field, names in FIELDS.items():
        for name in names:
            if name in by_folded:
                renames[by_folded[name]] = field
                break
    out = frame.rename(columns=renames)
    found = ", ".join(str(c) for c in frame.columns) or "none"
    missing = [f for f in REQUIRED if f not in out.columns]
    if missing:
        raise SourceError(
            path,
            f"measurement file lacks required column(s) {', '.join(missing)}; found {found}",
        )
    has_xy = {"x", "y"} <= set(out.columns)
    has_lonlat = {"lon", "lat"} <= set(out.columns)
    if not (has_geometry or has_xy or has_lonlat):
        raise SourceError(
            path,
            "measurement file has no position: expected x/y (EPSG:25832) or lon/lat columns, "
            f"or a point geometry; found {found}",
        )
    if "rsrp" not in out.columns and "down" not in out.columns:
        raise SourceError(
            path, f"measurement file has neither an rsrp nor a down column; found {found}"
        )
    return out


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of values that are present but not numbers (Parquet numbers pass as is)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(values), bool)
    return parse_numbers(values)


def _times(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC times and a mask of values that are present but not ISO 8601."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        times = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
        return times.dt.tz_convert("UTC"), np.zeros(len(values), bool)
    text = values.astype("string").fillna("").str.strip()
    times = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = (times.isna() & (text != "")).to_numpy()
    return times, bad


def validate_rows(
    frame: pd.DataFrame,
    lines: np.ndarray,
    geom_east: np.ndarray | None,
    geom_north: np.ndarray | None,
    path: Path,
    quarantine: Quarantine,
    generated: bool,
    now: datetime,
    *,
    text: bool = True,
) -> pd.DataFrame:
    """Check rows with canonical column names; quarantine bad ones; the rest as a plain table.

    ``lines`` are the rows' line numbers for the quarantine; ``geom_east`` / ``geom_north`` a
    point geometry's position in EPSG:25832 when the file had one. The result has
    :data:`MEASUREMENT_COLUMNS` and no geometry. The vocabularies and ``device`` are text
    (``string``) unless ``text`` is False, which leaves them categorical for a compact reader.
    """
    n = len(frame)
    bad = np.zeros(n, dtype=bool)

    def raw(field: str) -> pd.Series:
        if field in frame.columns:
            return frame[field]
        return pd.Series([""] * n, index=frame.index, dtype="string")

    def reject(mask: np.ndarray, field: str, reason: str | np.ndarray) -> None:
        nonlocal bad
        if not mask.any():
            return
        reasons = pd.Series(reason[mask]) if isinstance(reason, np.ndarray) else reason
        values = raw(field).astype("string").fillna("").to_numpy()[mask]
        quarantine.add(SOURCE, path, lines[mask], field, values, reasons)
        bad |= mask

    times, bad_time = _times(raw("time"))
    reject(bad_time, "time", "not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)")
    no_time = times.isna().to_numpy() & ~bad_time
    reject(no_time, "time", "time is empty")
    future = (times > pd.Timestamp(now + FUTURE_TOLERANCE)).fillna(False).to_numpy()
    reject(future, "time", f"time is in the future (after {now.isoformat(timespec='seconds')})")

    # Vocabularies and devices are folded per distinct value and kept as categoricals: a batch of
    # a million rows holds a few dozen spellings, and a string per row is what costs time.
    operator = pd.Series(normalise_categorical(raw("operator"), "operator"), index=frame.index)
    reject(
        operator.isna().to_numpy(),
        "operator",
        f"unknown operator (expected one of {', '.join(OPERATORS)} or a PLMN code like 238-01)",
    )
    technology = pd.Series(normalise_categorical(raw("technology"), "technology"), frame.index)
    bare_5g = _by_distinct(
        raw("technology"), lambda s: s.fillna("").str.strip().str.casefold() == "5g"
    )
    reject(
        technology.isna().to_numpy() & bare_5g,
        "technology",
        "5G must say NSA or SA (expected 5G NSA or 5G SA)",
    )
    reject(
        technology.isna().to_numpy() & ~bare_5g,
        "technology",
        f"unknown technology (expected one of {', '.join(TECHNOLOGIES)})",
    )
    device = _devices(raw("device"))
    reject(
        device.isna() | (device == ""), "device", "device id is empty (an anonymous id is needed)"
    )

    optional_vocab: list[tuple[str, tuple[str, ...]]] = [
        ("environment", ENVIRONMENTS),
        ("source", MEASUREMENT_SOURCES),
    ]
    vocab_values: dict[str, pd.Categorical] = {}
    for field, allowed in optional_vocab:
        given = _by_distinct(raw(field), lambda s: s.fillna("").str.strip() != "")
        folded = normalise_categorical(raw(field), field)
        reject(
            given & folded.isna(),
            field,
            f"unknown {field} (expected one of {', '.join(allowed)}, or empty)",
        )
        vocab_values[field] = folded

    values: dict[str, np.ndarray] = {}
    for field, (low, high, units) in RANGES.items():
        if field not in frame.columns:
            values[field] = np.full(n, np.nan, dtype="float32")
            continue
        numbers, not_number = _numbers(frame[field])
        reject(not_number, field, f"not a number (expected {units})")
        outside = ~not_number & ~np.isnan(numbers) & ((numbers < low) | (numbers > high))
        reject(outside, field, f"{field} out of range (expected {low:g} to {high:g} {units})")
        values[field] = numbers.astype("float32")
    nothing = np.isnan(values["rsrp"]) & np.isnan(values["down"]) & ~bad
    reject(nothing, "rsrp" if "rsrp" in frame.columns else "down", "no RSRP and no down speed")

    east, north = _positions(frame, geom_east, geom_north, reject)

    keep = ~bad
    out = pd.DataFrame(
        {
            "time": times[keep].reset_index(drop=True).astype("datetime64[ns, UTC]"),
            "east": east[keep],
            "north": north[keep],
            "operator": operator.array[keep],
            "technology": technology.array[keep],
            **{f: values[f][keep] for f in RANGES},
            "environment": vocab_values["environment"][keep],
            "source": vocab_values["source"][keep],
            "device": device[keep],
            "generated": _generated_flags(frame, generated)[keep],
            "source_file": str(path),
            "source_line": lines[keep],
        }
    )
    if text:
        for col in ("operator", "technology", "environment", "source", "device"):
            out[col] = out[col].astype("string")
    return out[MEASUREMENT_COLUMNS]


def _by_distinct(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """``func`` (text → bool) evaluated once per distinct value, spread back to the rows."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(np.append(np.asarray(uniques, dtype=object), pd.NA), dtype="string")
    return np.asarray(func(distinct), dtype=bool)[codes]  # code -1 takes the appended NA


def _devices(values: pd.Series) -> pd.Categorical:
    """Device ids with surrounding spaces removed, as a categorical (missing stays missing)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    stripped = pd.Series(np.asarray(uniques, dtype=object), dtype="string").str.strip()
    inner, names = pd.factorize(stripped)
    joined = np.where(codes >= 0, np.append(inner, -1)[codes], -1)
    return pd.Categorical.from_codes(joined, categories=pd.Index(names, dtype=object))


def _positions(
    frame: pd.DataFrame,
    geom_east: np.ndarray | None,
    geom_north: np.ndarray | None,
    reject: Callable[[np.ndarray, str, str | np.ndarray], None],
) -> tuple[np.ndarray, np.ndarray]:
    """East / north in EPSG:25832 from the geometry, else x/y, else lon/lat; bad pairs rejected."""
    n = len(frame)
    if geom_east is not None and geom_north is not None:
        reasons = classify_projected(geom_east, geom_north)
        reject(reasons != "", "geometry", reasons)
        return geom_east, geom_north
    east = np.full(n, np.nan)
    north = np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    if {"x", "y"} <= set(frame.columns):
        x, bad_x = _numbers(frame["x"])
        y, bad_y = _numbers(frame["y"])
        reject(bad_x, "x", "not a number (expected EPSG:25832 metres)")
        reject(bad_y & ~bad_x, "y", "not a number (expected EPSG:25832 metres)")
        given = ~np.isnan(x) & ~np.isnan(y)
        reasons = classify_projected(x, y)
        wrong = given & (reasons != "")
        reject(wrong, "x", reasons)
        ok = given & ~wrong
        east[ok], north[ok] = x[ok], y[ok]
        todo = ~given & ~bad_x & ~bad_y
    if {"lon", "lat"} <= set(frame.columns) and todo.any():
        lon, bad_lon = _numbers(frame["lon"])
        lat, bad_lat = _numbers(frame["lat"])
        reject(todo & bad_lon, "lon", "not a number (expected WGS84 degrees)")
        reject(todo & bad_lat & ~bad_lon, "lat", "not a number (expected WGS84 degrees)")
        given = todo & ~np.isnan(lon) & ~np.isnan(lat)
        reasons = classify_lonlat(lon, lat)
        wrong = given & (reasons != "")
        reject(wrong, "lon", reasons)
        ok = given & ~wrong
        if ok.any():
            east[ok], north[ok] = _TO_25832.transform(lon[ok], lat[ok])
        todo = todo & ~given & ~bad_lon & ~bad_lat
    field = "x" if "x" in frame.columns else "lon"
    reject(todo, field, "no position: expected x/y (EPSG:25832) or lon/lat")
    return east, north


def _generated_flags(frame: pd.DataFrame, generated: bool) -> np.ndarray:
    """Every row of a generated file is generated; a ``generated`` column can mark single rows."""
    if generated:
        return np.ones(len(frame), dtype=bool)
    if "generated" in frame.columns:
        column = frame["generated"]
        if pd.api.types.is_bool_dtype(column.dtype):
            return column.fillna(False).to_numpy(dtype=bool)
        text = column.astype("string").fillna("").str.strip().str.lower()
        return text.isin(["1", "true", "ja", "yes"]).to_numpy()
    return np.zeros(len(frame), dtype=bool)


def write_measurements(measurements: pd.DataFrame, path: str | Path) -> Path:
    """Write a measurement table as GeoParquet (or CSV with x/y when the name ends in ``.csv``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame = pd.DataFrame(measurements.drop(columns="geometry", errors="ignore"))
        frame = frame.rename(columns={"east": "x", "north": "y"})
        frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        frame.to_csv(path, index=False)
        return path
    frame = measurements
    if not isinstance(frame, gpd.GeoDataFrame):
        geometry = shapely.points(frame["east"].to_numpy(), frame["north"].to_numpy())
        frame = gpd.GeoDataFrame(frame, geometry=geometry, crs=WORK_CRS)
    frame.to_parquet(path, compression="zstd", index=False)
    return path


__all__ = [
    "FIELDS",
    "MEASUREMENT_COLUMNS",
    "RANGES",
    "REQUIRED",
    "SOURCE",
    "canonical_columns",
    "read_measurements",
    "validate_rows",
    "write_measurements",
]
