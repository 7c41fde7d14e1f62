"""Seeded generators: mobile sites at realistic density, and measurements drawn from the model.

Measurements are placed where real ones are taken (drive routes along the road network from an
OpenStreetMap extract, crowd speed tests at addresses, or uniformly over an area for region-size
runs) and their values drawn from the model's rasters plus log-normal shadowing (normal in dB,
σ = 8 dB as TR 38.901 gives for rural NLOS), the car's or building's penetration loss, and the
speed model. Every record is flagged ``generated``; nothing here is real data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage.errors import SourceError
from coverage.mobile.calibrate import VEHICLE_LOSS_DB
from coverage.mobile.clutter import osm_target
from coverage.mobile.measurements import MEASUREMENT_COLUMNS
from coverage.mobile.model import RasterLayer
from coverage.mobile.propagation import TECHNOLOGY_PROFILES, expected_down_mbit, sinr_db
from coverage.mobile.raster import RasterGrid, read_band
from coverage.mobile.sites import SITE_COLUMNS
from coverage.mobile.vocab import UNKNOWN_OPERATOR
from coverage.types import WORK_CRS

#: Roads a drive-test car uses.
DRIVABLE = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
)

#: Default operators of generated data (Denmark's three radio networks' brands).
DEFAULT_OPERATORS = ("TDC", "Telenor", "Telia")

SHADOWING_DB = 8.0

#: Sites per km² per operator in open country (one per ~12 km², the Danish rural grid).
RURAL_SITE_DENSITY = 1.0 / 12.0


def read_roads(path: str | Path) -> gpd.GeoDataFrame:
    """Drivable roads from an OpenStreetMap extract (``.osm``/``.pbf``, or zipped), EPSG:25832."""
    target = osm_target(path)
    try:
        lines = pyogrio.read_dataframe(target, layer="lines", columns=["highway"])
    except Exception as exc:  # pyogrio raises several GDAL-derived types for unreadable files
        raise SourceError(path, f"cannot be read as OpenStreetMap data: {exc}") from None
    lines = lines[lines["highway"].isin(DRIVABLE)].to_crs(WORK_CRS)
    return gpd.GeoDataFrame(lines.reset_index(drop=True), crs=WORK_CRS)


def drive_points(
    roads: gpd.GeoDataFrame,
    seed: int,
    *,
    drives: int = 10,
    roads_per_drive: int = 40,
    spacing_m: float = 50.0,
    speed_kmh: float = 50.0,
    end: datetime | None = None,
    days: int = 90,
) -> pd.DataFrame:
    """Drive-test sample positions: each drive follows a length-weighted draw of road lines.

    A sample every ``spacing_m`` along each road; time advances at ``speed_kmh``. One device per
    drive, environment ``in vehicle``, source ``drive test``.
    """
    rng = np.random.default_rng(seed)
    geoms = np.asarray(roads.geometry.array)
    lengths = shapely.length(geoms)
    if len(geoms) == 0 or lengths.sum() == 0:
        raise SourceError("roads", "no drivable road to place drive tests on")
    picks = rng.choice(len(geoms), size=(drives, roads_per_drive), p=lengths / lengths.sum())
    line = picks.ravel()
    drive = np.repeat(np.arange(drives), roads_per_drive)
    per_line = np.floor(lengths[line] / spacing_m).astype("int64") + 1
    idx = np.repeat(np.arange(len(line)), per_line)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(per_line) - per_line, per_line)
    points = shapely.line_interpolate_point(geoms[line][idx], offset * spacing_m)
    sample_drive = drive[idx]
    # Seconds since each drive's start: samples are spaced evenly in distance.
    order_in_drive = np.arange(len(idx)) - np.repeat(
        np.searchsorted(sample_drive, np.arange(drives)),
        np.bincount(sample_drive, minlength=drives),
    )
    seconds = order_in_drive * spacing_m / (speed_kmh / 3.6)
    start = _starts(rng, drives, end, days)
    times = start[sample_drive] + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "east": shapely.get_x(points),
            "north": shapely.get_y(points),
            "time": times,
            "device": np.char.add(f"drive-{seed}-", sample_drive.astype(str)).astype(object),
            "environment": "in vehicle",
            "source": "drive test",
        }
    )


def crowd_points(
    addresses: pd.DataFrame,
    seed: int,
    n: int,
    *,
    indoor_share: float = 0.7,
    end: datetime | None = None,
    days: int = 90,
) -> pd.DataFrame:
    """Crowd speed tests at random addresses (jittered 10 m), mostly indoors, 1-3 devices each."""
    rng = np.random.default_rng(seed)
    if len(addresses) == 0:
        raise SourceError("addresses", "no addresses to place crowd measurements at")
    pick = rng.integers(0, len(addresses), n)
    east = addresses["east"].to_numpy(dtype="float64")[pick] + rng.normal(0.0, 10.0, n)
    north = addresses["north"].to_numpy(dtype="float64")[pick] + rng.normal(0.0, 10.0, n)
    household = rng.integers(0, 3, n)
    device = np.char.add(
        np.char.add(f"app-{seed}-", pick.astype(str)), np.char.add("-", household.astype(str))
    )
    start = _starts(rng, n, end, days)
    return pd.DataFrame(
        {
            "east": east,
            "north": north,
            "time": start,
            "device": device.astype(object),
            "environment": np.where(rng.random(n) < indoor_share, "indoor", "outdoor"),
            "source": np.where(rng.random(n) < 0.6, "app", "crowd"),
        }
    )


def uniform_points(
    area: shapely.Geometry,
    seed: int,
    n: int,
    *,
    devices: int | None = None,
    end: datetime | None = None,
    days: int = 90,
) -> pd.DataFrame:
    """Sample positions spread uniformly over an area (region-size benchmarks), outdoor app tests."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.bounds(area)
    shapely.prepare(area)
    east = np.empty(0)
    north = np.empty(0)
    share = max(shapely.area(area) / ((xmax - xmin) * (ymax - ymin)), 0.05)
    while len(east) < n:
        k = int((n - len(east)) / share * 1.1) + 16
        x = rng.uniform(xmin, xmax, k)
        y = rng.uniform(ymin, ymax, k)
        keep = shapely.contains_xy(area, x, y)
        east = np.concatenate([east, x[keep]])
        north = np.concatenate([north, y[keep]])
    pool = devices or max(n // 20, 3)
    device_codes = pd.Categorical.from_codes(
        rng.integers(0, pool, n), categories=[f"dev-{seed}-{i}" for i in range(pool)]
    )
    return pd.DataFrame(
        {
            "east": east[:n],
            "north": north[:n],
            "time": _starts(rng, n, end, days),
            "device": device_codes,
            "environment": pd.Categorical.from_codes(np.zeros(n, "int8"), ["outdoor"]),
            "source": pd.Categorical.from_codes(np.zeros(n, "int8"), ["app"]),
        }
    )


def draw_measurements(
    points: pd.DataFrame,
    layers: Sequence[RasterLayer],
    seed: int,
    *,
    operators: Sequence[str] = DEFAULT_OPERATORS,
    shadowing_db: float = SHADOWING_DB,
    share_sa: float = 0.2,
    geometry: bool = True,
    bands: dict[Path, tuple[np.ndarray, RasterGrid]] | None = None,
) -> pd.DataFrame:
    """Measured values at sample positions, drawn from the model's outdoor layers.

    Each sample gets an operator (uniformly from ``operators``); its outdoor RSRP is that operator's
    layer (or the ``unknown`` operator's) plus shadowing, less the car's (9 ± 5 dB) or the building's
    (the layer's indoor loss ± 4 dB) penetration. It reports 5G where the 5G signal is usable
    (≥ −115 dBm), else 4G. Speeds follow the speed model with a random load factor. A sample below
    −140 dBm is a failed test: no RSRP, 0 Mbit/s. Positions off the rasters are dropped.
    ``bands`` caches the layers' pixels across calls (drawing millions of samples in chunks).
    """
    rng = np.random.default_rng(seed)
    n = len(points)
    east = points["east"].to_numpy(dtype="float64")
    north = points["north"].to_numpy(dtype="float64")
    op_index = rng.integers(0, len(operators), n)
    truth = {tech: np.full(n, np.nan, dtype="float32") for tech in TECHNOLOGY_PROFILES}
    loss = {tech: np.zeros(n, dtype="float32") for tech in TECHNOLOGY_PROFILES}
    for layer in layers:
        if layer.environment != "outdoor" or layer.technology not in truth:
            continue
        if layer.operator == UNKNOWN_OPERATOR:
            rows = np.ones(n, dtype=bool)
        elif layer.operator in operators:
            rows = op_index == list(operators).index(layer.operator)
        else:
            continue
        if bands is None:
            band, grid = read_band(layer.path)
        else:
            if layer.path not in bands:
                bands[layer.path] = read_band(layer.path)
            band, grid = bands[layer.path]
        r, c, inside = grid.index(east, north)
        sel = rows & inside
        truth[layer.technology][sel] = band[r[sel], c[sel]]
        indoor = next(
            (
                la.indoor_loss_db
                for la in layers
                if la.environment == "indoor"
                and la.operator == layer.operator
                and la.technology == layer.technology
            ),
            TECHNOLOGY_PROFILES[layer.technology].indoor_loss_db,
        )
        loss[layer.technology][sel] = indoor
    vehicle = (points["environment"] == "in vehicle").to_numpy(dtype=bool)
    indoor_env = (points["environment"] == "indoor").to_numpy(dtype=bool)
    no_signal = np.full(n, np.nan, dtype="float32")
    use_5g = np.nan_to_num(truth.get("5G", no_signal), nan=-999.0) >= -115.0
    has_4g = ~np.isnan(truth.get("4G", no_signal))
    keep = use_5g | has_4g
    outdoor = np.where(use_5g, truth.get("5G", no_signal), truth.get("4G", no_signal))
    building = np.where(use_5g, loss.get("5G", 0.0), loss.get("4G", 0.0))
    rsrp: np.ndarray = outdoor.astype("float64") + rng.normal(0.0, shadowing_db, n)
    rsrp -= np.where(vehicle, np.maximum(rng.normal(VEHICLE_LOSS_DB, 5.0, n), 0.0), 0.0)
    rsrp -= np.where(indoor_env, np.maximum(building + rng.normal(0.0, 4.0, n), 0.0), 0.0)
    rsrp = np.round(np.minimum(rsrp, -44.0))
    failed = rsrp < -140.0
    down: np.ndarray = np.zeros(n)
    sinr: np.ndarray = np.full(n, np.nan)
    for name, is_tech in (("4G", ~use_5g), ("5G", use_5g)):
        profile = TECHNOLOGY_PROFILES[name]
        sel = is_tech & ~failed
        down[sel] = expected_down_mbit(rsrp[sel], profile) * rng.uniform(0.4, 1.6, sel.sum())
        sinr[sel] = np.clip(sinr_db(rsrp[sel], profile) + rng.normal(0.0, 3.0, sel.sum()), -23, 40)
    down = np.round(np.minimum(down, 10_000.0), 1)
    up = np.round(down * rng.uniform(0.05, 0.12, n), 1)
    # Categorical codes, not string arrays: ten million strings would cost gigabytes.
    tech_code = np.where(use_5g, np.where(rng.random(n) < share_sa, 2, 1), 0)
    out = pd.DataFrame(
        {
            # As naive UTC datetime64: a tz-aware column to_numpy() is an object array, 100× slower.
            "time": points["time"].dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]"),
            "east": east,
            "north": north,
            "operator": pd.Categorical.from_codes(op_index, categories=list(operators)),
            "technology": pd.Categorical.from_codes(tech_code, ["4G", "5G NSA", "5G SA"]),
            "rsrp": np.where(failed, np.nan, rsrp).astype("float32"),
            "rsrq": np.where(failed, np.nan, np.clip(rng.normal(-10.0, 2.5, n), -20, -3)).astype(
                "float32"
            ),
            "sinr": np.round(sinr, 1).astype("float32"),
            "down": down.astype("float32"),
            "up": up.astype("float32"),
            "latency": np.round(8.0 + rng.lognormal(2.4, 0.4, n), 1).astype("float32"),
            "environment": pd.Categorical(points["environment"]),
            "source": pd.Categorical(points["source"]),
            "device": points["device"].to_numpy(),
            "generated": True,
            "source_file": pd.Categorical.from_codes(
                np.zeros(n, dtype="int8"), [f"netkort synth (seed {seed})"]
            ),
            "source_line": np.arange(1, n + 1, dtype="int64"),
        }
    )
    if not keep.all():
        out = out[keep].reset_index(drop=True)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    out = out[MEASUREMENT_COLUMNS]
    if not geometry:
        return out
    points_geom = shapely.points(out["east"].to_numpy(), out["north"].to_numpy())
    return gpd.GeoDataFrame(out, geometry=points_geom, crs=WORK_CRS)


def synth_measurements(
    layers: Sequence[RasterLayer],
    seed: int,
    *,
    roads: gpd.GeoDataFrame | None = None,
    addresses: pd.DataFrame | None = None,
    drives: int = 10,
    crowd: int = 2000,
    operators: Sequence[str] = DEFAULT_OPERATORS,
    end: datetime | None = None,
) -> gpd.GeoDataFrame:
    """Drive tests along ``roads`` and crowd tests at ``addresses``, drawn from the model.

    The result has the columns of :func:`~coverage.mobile.measurements.read_measurements`, every
    row ``generated``; written with ``write_measurements`` it reads back through the same checks.
    """
    parts = []
    if roads is not None and drives > 0:
        parts.append(drive_points(roads, seed, drives=drives, end=end))
    if addresses is not None and crowd > 0:
        parts.append(crowd_points(addresses, seed + 1, crowd, end=end))
    if not parts:
        raise SourceError("synth", "nothing to generate: give roads (drives) or addresses (crowd)")
    points = pd.concat(parts, ignore_index=True)
    out = draw_measurements(points, layers, seed, operators=operators)
    for col in ("operator", "technology", "environment", "source", "device", "source_file"):
        out[col] = out[col].astype("string")
    return out


def generate_sites(
    municipalities: gpd.GeoDataFrame,
    seed: int,
    operators: Sequence[str] = DEFAULT_OPERATORS,
    density: float = 1.0,
    *,
    share_5g: float = 0.8,
) -> gpd.GeoDataFrame:
    """Mobile sites for each operator at a realistic density over the municipalities.

    Open country gets one site per ~12 km² per operator (``density`` scales it), laid on a jittered
    square lattice so sites do not clump; each municipality's main town (approximated by its
    representative point, for want of population data) gets extra, lower sites within ~3 km. Rural
    antennas stand 30-48 m, town antennas 20-30 m; all are omnidirectional, carry 4G, and
    ``share_5g`` of them 5G. Every site is flagged ``generated``.
    """
    rng = np.random.default_rng(seed)
    area = shapely.union_all(np.asarray(municipalities.geometry.array))
    shapely.prepare(area)
    xmin, ymin, xmax, ymax = shapely.bounds(area)
    spacing = float(np.sqrt(1.0 / (RURAL_SITE_DENSITY * density))) * 1000.0
    towns = shapely.get_coordinates(
        shapely.point_on_surface(np.asarray(municipalities.geometry.array))
    )
    parts = []
    for k, operator in enumerate(operators):
        gx = np.arange(xmin + rng.uniform(0, spacing), xmax, spacing)
        gy = np.arange(ymin + rng.uniform(0, spacing), ymax, spacing)
        x, y = (a.ravel() for a in np.meshgrid(gx, gy))
        x = x + rng.uniform(-0.4, 0.4, x.size) * spacing
        y = y + rng.uniform(-0.4, 0.4, y.size) * spacing
        per_town = max(1, round(6 * density))
        tx = np.repeat(towns[:, 0], per_town) + rng.normal(0, 1500.0, len(towns) * per_town)
        ty = np.repeat(towns[:, 1], per_town) + rng.normal(0, 1500.0, len(towns) * per_town)
        east = np.concatenate([x, tx])
        north = np.concatenate([y, ty])
        town = np.concatenate([np.zeros(x.size, bool), np.ones(tx.size, bool)])
        keep = shapely.contains_xy(area, east, north)
        east, north, town = east[keep], north[keep], town[keep]
        count = east.size
        height = np.where(
            town, rng.choice([20.0, 25.0, 30.0], count), rng.choice([30.0, 36.0, 42.0, 48.0], count)
        )
        techs = np.where(rng.random(count) < share_5g, "4G;5G", "4G")
        parts.append(
            pd.DataFrame(
                {
                    "site_id": np.char.add(f"gen-{k}-", np.arange(count).astype(str)).astype(
                        object
                    ),
                    "operator": operator,
                    "technologies": techs,
                    "height_m": height,
                    "azimuth": np.nan,
                    "power": np.nan,
                    "kind": np.where(town, "generated town site", "generated rural site"),
                    "mobile": True,
                    "east": east,
                    "north": north,
                    "generated": True,
                    "source_file": f"netkort synth (seed {seed})",
                    "source_line": np.arange(1, count + 1, dtype="int64"),
                }
            )
        )
    sites = pd.concat(parts, ignore_index=True)
    for col in ("site_id", "operator", "technologies", "kind"):
        sites[col] = sites[col].astype("string")
    geometry = shapely.points(sites["east"].to_numpy(), sites["north"].to_numpy())
    return gpd.GeoDataFrame(sites[SITE_COLUMNS], geometry=geometry, crs=WORK_CRS)


def _starts(rng: np.random.Generator, n: int, end: datetime | None, days: int) -> pd.DatetimeIndex:
    """``n`` random times in the ``days`` before ``end`` (default now), whole seconds, UTC."""
    stop = pd.Timestamp(end) if end is not None else pd.Timestamp.now(tz="UTC")
    stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop.tz_convert("UTC")
    # Start early enough that a drive never runs past ``end``.
    span = timedelta(days=days) - timedelta(hours=6)
    seconds = rng.integers(0, int(span.total_seconds()), n)
    return pd.DatetimeIndex(stop - timedelta(days=days) + pd.to_timedelta(seconds, unit="s"))


__all__ = [
    "DEFAULT_OPERATORS",
    "DRIVABLE",
    "crowd_points",
    "draw_measurements",
    "drive_points",
    "generate_sites",
    "read_roads",
    "synth_measurements",
    "uniform_points",
]
