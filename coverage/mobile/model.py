"""Predicted RSRP per operator and technology as Cloud-Optimised GeoTIFFs over a region.

For each operator × technology the sites' signals are laid on one EPSG:25832 grid and the strongest
is kept per pixel (the best server). Each site is computed only within its technology's maximum
radius, from a path-loss *kernel*: the loss from a pixel centre to every pixel of the window depends
only on the technology, the antenna height (to the metre) and the path-loss model, so one kernel
serves every site with that height and a site costs a few array operations on its window. Sites
are snapped to the nearest pixel centre (at most half a pixel diagonal off, 35 m at 50 m).

Layers are written outdoor and indoor (outdoor minus a building penetration loss). Where
measurements are given, each layer's offset is calibrated on part of them and checked on the rest
(see :mod:`coverage.mobile.calibrate`). Nothing here writes a release: the caller registers the
returned files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import shapely

from coverage.errors import BuildError, SourceError
from coverage.mobile.calibrate import Calibration, calibrate_offset, calibration_samples
from coverage.mobile.clutter import (
    CLUTTER_LOSS_DB,
    URBAN,
    ClutterSource,
    clutter_grid,
    read_osm_clutter,
)
from coverage.mobile.propagation import (
    DEFAULT_SCENARIO,
    TECHNOLOGY_PROFILES,
    Scenario,
    TechProfile,
    rma_path_loss,
    sector_pattern_db,
    uma_path_loss,
)
from coverage.mobile.raster import NODATA, RasterGrid, write_cog
from coverage.mobile.sites import model_sites
from coverage.mobile.vocab import slug
from coverage.types import WORK_CRS

#: RSRP written where no site is within range (dBm): below anything a phone can use.
FLOOR_DBM = -150.0

#: Land within this distance of the region outline is modelled too: the 1:500,000 coastline runs
#: a few hundred metres off the real one, and coastal addresses must not fall off the raster.
COAST_BUFFER_M = 500.0

MODEL_NAME = "3GPP TR 38.901 RMa/UMa, LOS-weighted dB mean, receiver-end clutter"
LAYER_INDEX = "layers.json"


class _Steps(Protocol):
    def step(self, label: str) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class RasterLayer:
    """One raster layer of the model, as written: what it shows and where the file is."""

    name: str
    path: Path
    operator: str
    technology: str
    environment: str
    units: str = "dBm"
    colour_map: str = "rsrp"
    resolution: float = 50.0
    crs: str = WORK_CRS
    nodata: int = NODATA
    sites: int = 0
    generated: bool = False
    model: str = MODEL_NAME
    indoor_loss_db: float = 0.0
    calibration: Calibration | None = None
    attribution: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (paths as text)."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["calibration"] = self.calibration.to_dict() if self.calibration else None
        out["attribution"] = list(self.attribution)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> RasterLayer:
        """Inverse of :meth:`to_dict`; a relative path is resolved against ``base``."""
        path = Path(data["path"])
        if base is not None and not path.is_absolute():
            path = base / path
        calibration = data.get("calibration")
        return cls(
            **{
                **data,
                "path": path,
                "calibration": Calibration.from_dict(calibration) if calibration else None,
                "attribution": tuple(data.get("attribution", ())),
            }
        )


def model_rasters(
    sites: pd.DataFrame,
    region_outline: shapely.Geometry,
    out_dir: str | Path,
    resolution: float = 50.0,
    clutter: ClutterSource | str | Path | None = None,
    *,
    profiles: Mapping[str, TechProfile] | None = None,
    indoor_loss_db: float | Mapping[str, float] | None = None,
    measurements: pd.DataFrame | None = None,
    holdout: float = 0.3,
    seed: int = 0,
    scenario: Scenario = DEFAULT_SCENARIO,
    coast_buffer_m: float = COAST_BUFFER_M,
    attribution: tuple[str, ...] = (),
    reporter: _Steps | None = None,
) -> list[RasterLayer]:
    """Write predicted RSRP (outdoor and indoor) per operator × technology as COGs in ``out_dir``.

    ``sites`` comes from :func:`~coverage.mobile.sites.read_sites` (only ``mobile`` rows are
    used); ``clutter`` is a :class:`ClutterSource` or an OpenStreetMap extract to read one from.
    ``indoor_loss_db`` overrides the technologies' building penetration loss (one value for all,
    or per technology). ``measurements`` (from ``read_measurements``) calibrate each layer's offset.
    Also writes ``layers.json`` describing the layers, and returns them.
    """
    profiles = dict(profiles or TECHNOLOGY_PROFILES)
    out_dir = Path(out_dir)
    per_tech = model_sites(sites)
    per_tech = per_tech[per_tech["technology"].isin(list(profiles))]
    if per_tech.empty:
        raise BuildError(
            f"no mobile site with a modelled technology ({', '.join(profiles)}): nothing to model"
        )
    if isinstance(clutter, str | Path):
        clutter = read_osm_clutter(clutter)
    steps = reporter

    def step(label: str) -> AbstractContextManager[Any]:
        return steps.step(label) if steps is not None else nullcontext()

    area = shapely.buffer(region_outline, coast_buffer_m) if coast_buffer_m else region_outline
    grid = RasterGrid.covering(tuple(shapely.bounds(area)), resolution)
    with step("Mobile model: grid and clutter"):
        inside = grid.mask(area)
        classes = clutter_grid(clutter, grid) if clutter is not None else None

    layers: list[RasterLayer] = []
    for (operator, technology), group in per_tech.groupby(["operator", "technology"], sort=True):
        profile = profiles[str(technology)]
        with step(f"Mobile model: {operator} {technology} ({len(group)} sites)"):
            best = predict_best_rsrp(group, grid, profile, classes, scenario)
            best[~inside] = np.nan
            calibration = None
            if measurements is not None and len(measurements):
                calibration = _calibrate(best, grid, measurements, operator, profile, holdout, seed)
                if calibration is not None:
                    best = np.where(best > FLOOR_DBM, best + calibration.offset_db, best)
            loss = _indoor_loss(indoor_loss_db, profile)
            # Values shifted by generated measurements are as synthetic as generated sites.
            generated = bool(group["generated"].any()) or (
                calibration is not None and _any_generated(measurements)
            )
            for environment, values, env_loss in (
                ("outdoor", best, 0.0),
                ("indoor", np.maximum(best - loss, FLOOR_DBM), loss),
            ):
                name = f"rsrp_{slug(str(operator))}_{slug(str(technology))}_{environment}"
                path = write_cog(
                    out_dir / f"{name}.tif",
                    values,
                    grid,
                    tags={
                        "NETKORT_LAYER": name,
                        "OPERATOR": str(operator),
                        "TECHNOLOGY": str(technology),
                        "ENVIRONMENT": environment,
                        "UNITS": "dBm",
                        "MODEL": MODEL_NAME,
                        "GENERATED": str(generated).lower(),
                    },
                )
                layers.append(
                    RasterLayer(
                        name=name,
                        path=path,
                        operator=str(operator),
                        technology=str(technology),
                        environment=environment,
                        resolution=float(resolution),
                        sites=int(group["site_id"].nunique()),
                        generated=generated,
                        indoor_loss_db=env_loss,
                        calibration=calibration,
                        attribution=tuple(attribution),
                    )
                )
    write_layer_index(layers, out_dir)
    return layers


def predict_best_rsrp(
    sites: pd.DataFrame,
    grid: RasterGrid,
    profile: TechProfile,
    classes: np.ndarray | None = None,
    scenario: Scenario = DEFAULT_SCENARIO,
) -> np.ndarray:
    """Best-server RSRP (dBm, float32) on ``grid`` from sites of one technology.

    Pixels no site reaches get :data:`FLOOR_DBM`.
    """
    kernels = _Kernels(profile, grid.resolution, scenario)
    radius = kernels.radius
    best = np.full(grid.shape, -np.inf, dtype="float32")
    closs = urban = None
    if classes is not None:
        lut = np.asarray(CLUTTER_LOSS_DB.get(profile.name, (0.0,) * 6), dtype="float32")
        closs = lut[classes]
        urban = classes == URBAN
        if not urban.any():
            urban = None
    rows, cols, _ = grid.index(sites["east"].to_numpy(), sites["north"].to_numpy())
    heights = np.rint(sites["height_m"].to_numpy(dtype="float64")).astype("int64")
    power = sites["power"].to_numpy(dtype="float64")
    eirp = np.where(np.isnan(power), profile.eirp_re_dbm, power).astype("float32")
    azimuth = sites["azimuth"].to_numpy(dtype="float64")
    for row, col, height, p, az in zip(rows, cols, heights, eirp, azimuth, strict=True):
        r0, r1 = max(row - radius, 0), min(row + radius + 1, grid.height)
        c0, c1 = max(col - radius, 0), min(col + radius + 1, grid.width)
        if r0 >= r1 or c0 >= c1:
            continue  # the site's reach does not touch the grid
        kr = slice(r0 - (row - radius), r1 - (row - radius))
        kc = slice(c0 - (col - radius), c1 - (col - radius))
        values = p - kernels.rural(int(height))[kr, kc]
        if urban is not None:
            in_town = urban[r0:r1, c0:c1]
            if in_town.any():
                values = np.where(in_town, p - kernels.urban(int(height))[kr, kc], values)
        if closs is not None:
            values -= closs[r0:r1, c0:c1]
        if not np.isnan(az):
            values += sector_pattern_db(kernels.bearing[kr, kc], float(az)).astype("float32")
        window = best[r0:r1, c0:c1]
        np.maximum(window, values, out=window)
    best[~np.isfinite(best) | (best < FLOOR_DBM)] = FLOOR_DBM
    return best


class _Kernels:
    """Path-loss windows around a pixel centre, cached per antenna height and model."""

    def __init__(self, profile: TechProfile, resolution: float, scenario: Scenario) -> None:
        self.profile = profile
        self.scenario = scenario
        self.radius = max(1, int(np.ceil(profile.max_radius_m / resolution)))
        offsets = np.arange(-self.radius, self.radius + 1, dtype="float64") * resolution
        dx = offsets[None, :]
        dy = -offsets[:, None]  # rows grow southwards
        self.distance = np.hypot(dx, dy)
        self.bearing = (np.degrees(np.arctan2(dx, dy)) % 360.0).astype("float32")
        self._rural: dict[int, np.ndarray] = {}
        self._urban: dict[int, np.ndarray] = {}

    def rural(self, height: int) -> np.ndarray:
        """RMa path loss (dB) window for an antenna height."""
        if height not in self._rural:
            loss = rma_path_loss(self.distance, height, self.profile.frequency_ghz, self.scenario)
            self._rural[height] = loss.astype("float32")
        return self._rural[height]

    def urban(self, height: int) -> np.ndarray:
        """UMa path loss (dB) window for an antenna height."""
        if height not in self._urban:
            loss = uma_path_loss(self.distance, height, self.profile.frequency_ghz, self.scenario)
            self._urban[height] = loss.astype("float32")
        return self._urban[height]


def _indoor_loss(value: float | Mapping[str, float] | None, profile: TechProfile) -> float:
    if value is None:
        return profile.indoor_loss_db
    if isinstance(value, Mapping):
        return float(value.get(profile.name, profile.indoor_loss_db))
    return float(value)


def _calibrate(
    best: np.ndarray,
    grid: RasterGrid,
    measurements: pd.DataFrame,
    operator: str,
    profile: TechProfile,
    holdout: float,
    seed: int,
) -> Calibration | None:
    samples = calibration_samples(measurements, str(operator), profile.name)
    if samples.empty:
        return None
    rows, cols, on_grid = grid.index(samples["east"].to_numpy(), samples["north"].to_numpy())
    modelled = np.full(len(samples), np.nan)
    modelled[on_grid] = best[rows[on_grid], cols[on_grid]]
    # A sample where no site reaches says nothing about the offset.
    modelled[modelled <= FLOOR_DBM] = np.nan
    return calibrate_offset(
        modelled,
        samples["rsrp"].to_numpy(),
        samples["device"].to_numpy(),
        holdout=holdout,
        seed=seed,
    )


def _any_generated(frame: pd.DataFrame | None) -> bool:
    return frame is not None and "generated" in frame and bool(frame["generated"].any())


def write_layer_index(layers: list[RasterLayer], out_dir: Path) -> Path:
    """Write ``layers.json`` (file names relative to the folder) next to the rasters."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for layer in layers:
        entry = layer.to_dict()
        if layer.path.parent.resolve() == out_dir.resolve():
            entry["path"] = layer.path.name
        entries.append(entry)
    target = out_dir / LAYER_INDEX
    tmp = target.with_name(f".{LAYER_INDEX}.tmp")
    tmp.write_text(json.dumps({"layers": entries}, indent=2, ensure_ascii=False), "utf-8")
    tmp.replace(target)
    return target


def load_layers(folder: str | Path) -> list[RasterLayer]:
    """The layers a model run wrote into a folder (its ``layers.json``)."""
    folder = Path(folder)
    index = folder / LAYER_INDEX if folder.is_dir() else folder
    if not index.exists():
        raise SourceError(index, "no model layers here: run `netkort mobile model` first")
    try:
        data = json.loads(index.read_text("utf-8"))
        return [RasterLayer.from_dict(e, index.parent) for e in data["layers"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(index, f"layer index is not valid: {exc}") from None


def best_layers(layers: list[RasterLayer], environment: str = "outdoor") -> Iterator[RasterLayer]:
    """The layers of one environment, ordered by operator then technology."""
    yield from sorted(
        (la for la in layers if la.environment == environment),
        key=lambda la: (la.operator, la.technology),
    )


__all__ = [
    "FLOOR_DBM",
    "LAYER_INDEX",
    "MODEL_NAME",
    "RasterLayer",
    "best_layers",
    "load_layers",
    "model_rasters",
    "predict_best_rsrp",
    "write_layer_index",
]
