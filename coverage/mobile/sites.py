"""Mobile sites (masts with antennas) as a validated point table for the propagation model.

Two file shapes are read, each through a small column profile:

* ``generic``: ``site_id, operator, technologies, height_m, azimuth, power`` plus ``x``/``y``
  (EPSG:25832) or ``lon``/``lat``. ``technologies`` lists what the site radiates (``4G;5G NSA``);
  ``azimuth`` (degrees from north, empty = omnidirectional) and ``power`` (reference-signal EIRP
  per resource element, dBm, empty = the technology's default) are optional.
* ``osm-masts``: the OpenStreetMap mast extract in the bundle (``osm_id, kind, operator, height_m,
  lon, lat, etrs89_east, etrs89_north``). A ``communication_tower`` is taken as a mobile site; the
  other structures there belong to the local fixed-wireless association and are kept with
  ``mobile = False`` so the model ignores them. OpenStreetMap says neither the operator nor the
  technologies: the operator becomes ``unknown`` (the model then makes an "unknown operator"
  layer) and the technologies the profile's assumption (4G and 5G).

Rows with bad values are quarantined with file, line, field, value and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from coverage.csvio import read_text_csv
from coverage.errors import SourceError
from coverage.mobile.vocab import (
    MODEL_TECHNOLOGIES,
    OPERATORS,
    UNKNOWN_OPERATOR,
    normalise_operator,
)
from coverage.quarantine import Quarantine
from coverage.types import WEB_CRS, WORK_CRS
from coverage.validate import classify_lonlat, classify_projected, duplicated_first_line

SOURCE = "sites"

#: Columns of the site table, in order (plus ``geometry``).
SITE_COLUMNS = [
    "site_id",
    "operator",
    "technologies",
    "height_m",
    "azimuth",
    "power",
    "kind",
    "mobile",
    "east",
    "north",
    "generated",
    "source_file",
    "source_line",
]

#: Plausible antenna heights above ground, metres.
HEIGHT_RANGE = (2.0, 300.0)
#: Plausible reference-signal EIRP per resource element, dBm.
POWER_RANGE = (0.0, 60.0)

_TO_25832 = Transformer.from_crs(WEB_CRS, WORK_CRS, always_xy=True)


@dataclass(frozen=True)
class SiteProfile:
    """How one family of site files names its columns and what it leaves unsaid."""

    name: str
    columns: dict[str, str]
    """netkort field → file column (site_id, operator, technologies, height_m, azimuth, power,
    kind, x, y, lon, lat)."""
    mobile_kinds: frozenset[str] | None = None
    """Values of ``kind`` that are mobile sites; None = every row is one."""
    default_technologies: tuple[str, ...] = MODEL_TECHNOLOGIES
    """Technologies assumed where the file does not say."""
    default_height_m: float = 30.0
    """Antenna height assumed where the file does not say (a typical Danish rural tower)."""
    required: tuple[str, ...] = field(default=("site_id",))


PROFILES = {
    "generic": SiteProfile(
        name="generic",
        columns={
            "site_id": "site_id",
            "operator": "operator",
            "technologies": "technologies",
            "height_m": "height_m",
            "azimuth": "azimuth",
            "power": "power",
            "kind": "kind",
            "x": "x",
            "y": "y",
            "lon": "lon",
            "lat": "lat",
        },
        required=("site_id", "operator", "technologies"),
    ),
    "osm-masts": SiteProfile(
        name="osm-masts",
        columns={
            "site_id": "osm_id",
            "operator": "operator",
            "height_m": "height_m",
            "kind": "kind",
            "x": "etrs89_east",
            "y": "etrs89_north",
            "lon": "lon",
            "lat": "lat",
        },
        mobile_kinds=frozenset({"communication_tower"}),
        required=("osm_id", "kind"),
    ),
}

_TECH_SPLIT = r"[;,+|]"


def detect_profile(header: list[str]) -> SiteProfile:
    """The OpenStreetMap profile for a header with ``osm_id`` and ``kind``, else the generic one."""
    names = {h.strip().casefold() for h in header}
    return PROFILES["osm-masts"] if {"osm_id", "kind"} <= names else PROFILES["generic"]


def read_sites(
    path: str | Path,
    quarantine: Quarantine,
    *,
    profile: str | SiteProfile | None = None,
    generated: bool = False,
) -> gpd.GeoDataFrame:
    """Read a site CSV through a profile (detected from the header when not given).

    Returns EPSG:25832 points with ``site_id, operator, technologies`` (``;``-separated model
    technologies, 4G and/or 5G), ``height_m``, ``azimuth`` (NaN = omni), ``power`` (NaN = default),
    ``kind``, ``mobile`` (whether the model uses it) and ``generated``.
    """
    table = read_text_csv(path, what="site file")
    frame, lines, path = table.frame, table.lines, table.path
    for line, reason in table.bad_lines:
        quarantine.add(SOURCE, path, [line], "(row)", [""], reason)
    frame.columns = [c.strip().casefold() for c in frame.columns]
    if profile is None:
        chosen = detect_profile(list(frame.columns))
    elif isinstance(profile, str):
        if profile not in PROFILES:
            raise SourceError(
                path, f"unknown site profile {profile!r}; known: {', '.join(PROFILES)}"
            )
        chosen = PROFILES[profile]
    else:
        chosen = profile
    missing = [c for c in chosen.required if c not in frame.columns]
    if missing:
        raise SourceError(
            path,
            f"site file lacks required column(s) {', '.join(missing)} for profile "
            f"{chosen.name}; found {', '.join(frame.columns) or 'none'}",
        )
    cols = chosen.columns
    has_xy = cols.get("x") in frame.columns and cols.get("y") in frame.columns
    has_lonlat = cols.get("lon") in frame.columns and cols.get("lat") in frame.columns
    if not (has_xy or has_lonlat):
        raise SourceError(
            path,
            f"site file has no position: expected {cols.get('x')}/{cols.get('y')} (EPSG:25832) "
            f"or {cols.get('lon')}/{cols.get('lat')} columns",
        )
    return _validate(frame, lines, path, chosen, quarantine, generated)


def _validate(
    frame: pd.DataFrame,
    lines: np.ndarray,
    path: Path,
    profile: SiteProfile,
    quarantine: Quarantine,
    generated: bool,
) -> gpd.GeoDataFrame:
    n = len(frame)
    bad = np.zeros(n, dtype=bool)

    def col(name: str) -> pd.Series:
        source = profile.columns.get(name)
        if source is None or source not in frame.columns:
            return pd.Series([""] * n, index=frame.index, dtype="string")
        return frame[source].astype("string").fillna("").str.strip()

    def reject(mask: np.ndarray, name: str, reason: str | np.ndarray) -> None:
        nonlocal bad
        if not mask.any():
            return
        reasons = pd.Series(reason[mask]) if isinstance(reason, np.ndarray) else reason
        field_name = profile.columns.get(name, name)
        quarantine.add(SOURCE, path, lines[mask], field_name, col(name).to_numpy()[mask], reasons)
        bad |= mask

    site_id = col("site_id")
    reject((site_id == "").to_numpy(), "site_id", "site id is empty")
    dup, first = duplicated_first_line(site_id, lines)
    if dup.any():
        reasons = np.full(n, "", dtype=object)
        reasons[dup] = [f"duplicate site id, first seen on line {k}" for k in first]
        reject(dup & (site_id != "").to_numpy(), "site_id", reasons)

    kind = col("kind")
    if profile.mobile_kinds is None:
        mobile = np.ones(n, dtype=bool)
    else:
        mobile = kind.str.casefold().isin(list(profile.mobile_kinds)).to_numpy()

    operator_text = col("operator")
    operator = normalise_operator(operator_text)
    unknown = (operator_text == "").to_numpy() | operator_text.str.casefold().eq(
        UNKNOWN_OPERATOR
    ).to_numpy()
    operator = operator.where(~unknown, UNKNOWN_OPERATOR)
    # A structure that is not a mobile site may carry any operator (e.g. a local association).
    reject(
        (operator.isna().to_numpy() & mobile),
        "operator",
        f"unknown operator (expected one of {', '.join(OPERATORS)}, or empty for unknown)",
    )
    operator = operator.fillna(operator_text)

    technologies, bad_tech = _technologies(col("technologies"), profile.default_technologies)
    # Only a mobile site gets the profile's assumed technologies; other structures radiate none.
    technologies[~mobile & (col("technologies") == "").to_numpy()] = ""
    reject(
        bad_tech & mobile,
        "technologies",
        f"no modelled technology (expected a list of {', '.join(MODEL_TECHNOLOGIES)}, "
        "5G NSA or 5G SA, separated by ';')",
    )

    height = _ranged(col("height_m"), "height_m", HEIGHT_RANGE, "m", reject)
    height = np.where(np.isnan(height), profile.default_height_m, height)
    azimuth = _ranged(col("azimuth"), "azimuth", (0.0, 360.0), "degrees from north", reject)
    power = _ranged(col("power"), "power", POWER_RANGE, "dBm EIRP per resource element", reject)

    east, north = _positions(col, profile, reject, n)

    keep = ~bad
    out = pd.DataFrame(
        {
            "site_id": site_id[keep].to_numpy(),
            "operator": operator[keep].to_numpy(),
            "technologies": technologies[keep],
            "height_m": height[keep],
            "azimuth": azimuth[keep] % 360.0,
            "power": power[keep],
            "kind": kind[keep].to_numpy(),
            "mobile": mobile[keep],
            "east": east[keep],
            "north": north[keep],
            "generated": np.full(int(keep.sum()), generated),
            "source_file": str(path),
            "source_line": lines[keep],
        }
    )
    for c in ("site_id", "operator", "technologies", "kind"):
        out[c] = out[c].astype("string")
    geometry = shapely.points(out["east"].to_numpy(), out["north"].to_numpy())
    return gpd.GeoDataFrame(out[SITE_COLUMNS], geometry=geometry, crs=WORK_CRS)


def _technologies(values: pd.Series, default: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Model technologies per row as ``4G;5G`` text; empty → the default; none known → bad."""
    parts = values.str.casefold().str.split(_TECH_SPLIT, regex=True)
    exploded = parts.explode().str.strip()
    exploded = exploded[exploded.fillna("") != ""]
    model = exploded.map(_model_tech_of)
    joined = model.dropna().groupby(level=0).agg(lambda s: ";".join(sorted(set(s))))
    out = joined.reindex(values.index).fillna("").to_numpy(dtype=object)
    empty = (values == "").to_numpy()
    out[empty] = ";".join(default)
    bad = (out == "") & ~empty
    return out, bad


def _model_tech_of(text: str) -> str | None:
    text = " ".join(text.replace("-", " ").replace("_", " ").split())
    if text in ("4g", "lte", "lte a", "4g+"):
        return "4G"
    if text in ("5g", "nr", "5g nsa", "5g sa", "nr nsa", "nr sa"):
        return "5G"
    return None


def _ranged(
    values: pd.Series,
    name: str,
    bounds: tuple[float, float],
    units: str,
    reject: Callable[[np.ndarray, str, str | np.ndarray], None],
) -> np.ndarray:
    text = values.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    not_number = np.isnan(numbers) & (values != "").to_numpy()
    reject(not_number, name, f"not a number (expected {units})")
    low, high = bounds
    outside = ~np.isnan(numbers) & ((numbers < low) | (numbers > high))
    reject(outside, name, f"{name} out of range (expected {low:g} to {high:g} {units})")
    return numbers


def _positions(
    col: Callable[[str], pd.Series],
    profile: SiteProfile,
    reject: Callable[[np.ndarray, str, str | np.ndarray], None],
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    east = np.full(n, np.nan)
    north = np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    refused = np.zeros(n, dtype=bool)

    def numbers(name: str, units: str) -> np.ndarray:
        nonlocal refused
        text = col(name)
        values = pd.to_numeric(text.str.replace(",", "."), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        bad = np.isnan(values) & (text != "").to_numpy() & ~refused
        reject(bad, name, f"not a number (expected {units})")
        refused |= bad
        return values

    x, y = numbers("x", "EPSG:25832 metres"), numbers("y", "EPSG:25832 metres")
    given = ~np.isnan(x) & ~np.isnan(y)
    if given.any():
        reasons = classify_projected(x, y)
        wrong = given & (reasons != "")
        reject(wrong, "x", reasons)
        ok = given & ~wrong
        east[ok], north[ok] = x[ok], y[ok]
        todo = ~given
    lon, lat = numbers("lon", "WGS84 degrees"), numbers("lat", "WGS84 degrees")
    given = todo & ~np.isnan(lon) & ~np.isnan(lat)
    if given.any():
        reasons = classify_lonlat(lon, lat)
        wrong = given & (reasons != "")
        reject(wrong, "lon", reasons)
        ok = given & ~wrong
        east[ok], north[ok] = _TO_25832.transform(lon[ok], lat[ok])
        todo &= ~given
    reject(todo & ~refused, "x", "no position: expected x/y (EPSG:25832) or lon/lat")
    return east, north


def model_sites(sites: pd.DataFrame) -> pd.DataFrame:
    """One row per mobile site × modelled technology (``technology`` column), non-mobile dropped."""
    mobile = sites[sites["mobile"].to_numpy(dtype=bool)]
    exploded = mobile.assign(technology=mobile["technologies"].str.split(";")).explode("technology")
    exploded = exploded[exploded["technology"].isin(list(MODEL_TECHNOLOGIES))]
    return pd.DataFrame(exploded).reset_index(drop=True)


__all__ = ["PROFILES", "SITE_COLUMNS", "SOURCE", "SiteProfile", "model_sites", "read_sites"]
