"""Raster layers as map images: a window of a coverage COG, warped to Web Mercator and coloured.

Leaflet stretches an image overlay linearly between two lon/lat corners in Web Mercator pixel space,
so the picture is warped to EPSG:3857 first (nearest neighbour: class colours must not blend), then
coloured by the layer's interval colour map (``coverage.mobile.colours``) and encoded as PNG with
transparent no-data. Reading only the window around the municipality keeps a page's image small.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import from_bounds

from coverage.errors import SourceError
from coverage.types import WEB_CRS
from maps.layers import RasterOverlay

#: Web Mercator, the projection Leaflet draws in.
MERCATOR = "EPSG:3857"

#: Longest side of an overlay image, pixels: enough for a municipality page at its fitted zoom.
MAX_SIDE = 1600

#: An interval colour map: ``[((lower, upper), (r, g, b, a)), ...]`` over the raster's values.
Intervals = Sequence[tuple[tuple[float, float], tuple[int, int, int, int]]]


def colourise(values: np.ndarray, intervals: Intervals) -> np.ndarray:
    """RGBA uint8 image of a float array: each value in ``[lower, upper)`` gets its colour.

    NaN and values outside every interval are transparent. Vectorised: one ``searchsorted`` over
    the sorted lower bounds, then a check against the matching upper bound.
    """
    ordered = sorted(intervals, key=lambda item: item[0][0])
    lower = np.array([lo for (lo, _), _ in ordered], dtype="float64")
    upper = np.array([hi for (_, hi), _ in ordered], dtype="float64")
    palette = np.array([rgba for _, rgba in ordered] + [(0, 0, 0, 0)], dtype="uint8")
    flat = values.astype("float64").ravel()
    idx = np.searchsorted(lower, flat, side="right") - 1
    ok = np.isfinite(flat) & (idx >= 0)
    ok[ok] &= flat[ok] < upper[idx[ok]]
    idx[~ok] = len(ordered)  # the transparent entry
    return palette[idx].reshape((*values.shape, 4))


def raster_overlay(
    path: str | Path,
    intervals: Intervals,
    *,
    name: str,
    bounds: tuple[float, float, float, float] | None = None,
    legend: Sequence[tuple[str, str]] = (),
    generated: bool = False,
    opacity: float = 0.65,
    max_side: int = MAX_SIDE,
) -> RasterOverlay | None:
    """A coloured overlay of a single-band raster, optionally only ``bounds`` (in its own CRS).

    Returns None when the window holds no data (the raster does not reach the area). A file that
    cannot be read raises :class:`~coverage.errors.SourceError` naming it.
    """
    try:
        with (
            rasterio.open(path) as src,
            WarpedVRT(src, crs=MERCATOR, resampling=Resampling.nearest) as vrt,
        ):
            window = _window(vrt, src, bounds)
            if window is None:
                return None
            scale = max(window.width, window.height) / max_side
            shape = (
                max(1, round(window.height / max(scale, 1.0))),
                max(1, round(window.width / max(scale, 1.0))),
            )
            band = vrt.read(
                1, window=window, out_shape=shape, masked=True, resampling=Resampling.nearest
            )
            t = vrt.transform  # north up: a > 0, e < 0
            left, top = t.c + window.col_off * t.a, t.f + window.row_off * t.e
            right, bottom = left + window.width * t.a, top + window.height * t.e
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(path, f"raster cannot be read: {exc}") from None
    values = band.astype("float64").filled(np.nan)
    if not np.isfinite(values).any():
        return None
    rgba = colourise(values, intervals)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", optimize=True)
    to_lonlat = Transformer.from_crs(MERCATOR, WEB_CRS, always_xy=True)
    west, south = to_lonlat.transform(left, bottom)
    east, north = to_lonlat.transform(right, top)
    return RasterOverlay(
        png=buffer.getvalue(),
        bounds=((south, west), (north, east)),
        name=name,
        legend=tuple(legend),
        opacity=opacity,
        generated=generated,
    )


def _window(
    vrt: WarpedVRT, src: rasterio.DatasetReader, bounds: tuple[float, float, float, float] | None
) -> rasterio.windows.Window | None:
    """The VRT window covering ``bounds`` (given in the source CRS), clipped to the raster."""
    full = rasterio.windows.Window(0, 0, vrt.width, vrt.height)
    if bounds is None:
        return full
    to_merc = Transformer.from_crs(src.crs, MERCATOR, always_xy=True)
    xs, ys = to_merc.transform(
        [bounds[0], bounds[2], bounds[0], bounds[2]], [bounds[1], bounds[1], bounds[3], bounds[3]]
    )
    wanted = from_bounds(min(xs), min(ys), max(xs), max(ys), transform=vrt.transform)
    try:
        window = wanted.intersection(full)
    except rasterio.errors.WindowError:
        return None  # no overlap
    window = window.round_offsets().round_lengths()
    if window.width < 1 or window.height < 1:
        return None
    return window


__all__ = ["MAX_SIDE", "MERCATOR", "Intervals", "colourise", "raster_overlay"]
