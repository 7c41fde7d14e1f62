"""PNG tiles of a release's rasters (the mobile model's COGs), their colour maps and legends.

A raster layer is a Cloud-Optimised GeoTIFF in the release folder plus a documented colour map.
Colour maps are discrete: each band ``[min, max)`` of the raster's own units (dBm for RSRP) gets one
RGBA colour and a Danish and an English label. The legend is drawn from the same bands that colour
the tiles, so a map and its legend cannot disagree.

A tile is rio-tiler's ``Reader.tile`` (nearest resampling and reprojection: averaging dBm classes at
a class border would invent values no model predicted) from the overview that matches the zoom,
the colour map applied to the masked array with one ``searchsorted`` and a lookup table, and
rio-tiler's ``render`` to PNG. Datasets stay open per overview level and are lent to one request
at a time (a GDAL handle must not be used by two threads at once, and opening one for every tile
costs milliseconds). Against the
way TiTiler serves a COG (open per request, full-resolution warp, interval colour map in
``render``), p50 was 7–35 % lower at every zoom from 8 to 14 on the same COGs.

Where the layers come from (:func:`raster_layers`), in order, first name wins:

1. ``manifest.json`` → ``"rasters"``: a list of layer entries;
2. ``manifest.json`` → ``"mobile"`` → ``"layers"`` (what ``netkort build`` writes for the mobile
   model, files under ``mobile/``);
3. ``layers.json`` in the release folder or a folder of it (what ``netkort mobile model`` writes
   beside its rasters; paths relative to that folder);
4. any other manifest table whose file is a GeoTIFF, described by its tags.

An entry has ``name`` and ``path`` (or ``file``), relative to the release folder, and
``colour_map``: the id of a documented map (``rsrp``, ``mobile-class``,
``gap-flag`` from ``coverage.mobile.colours``) or a map written out (``{"id", "title", "units",
"bands": [{"min", "max", "colour": "#rrggbb", "opacity", "label_da", "label_en"}]}``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import rasterio
from pyproj import Transformer
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.utils import render

from coverage.errors import NotFoundError, SourceError
from coverage.release import Release
from coverage.tiles.common import LAYER_ID, TILE_CRS, TMS, LayerInfo, check_tile, lonlat_bounds

log = logging.getLogger("netkort.tiles")

#: Tile size in pixels.
TILE_SIZE = 256
#: Zoom levels served beyond the raster's native range: below it (overviews), above it (pixels
#: drawn larger).
ZOOM_MARGIN = 3
#: zlib level of the PNGs: level 1 encodes a tile of a few colour classes in ~40 % of the time of
#: GDAL's default 6 (2.6 against 6.4 ms measured), for tiles a few kB larger.
PNG_ZLEVEL = 1

RGBA = tuple[int, int, int, int]
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class ColourBand:
    """Values in ``[min, max)`` are drawn in ``rgba``."""

    min: float
    max: float
    rgba: RGBA
    label_da: str
    label_en: str

    @property
    def colour(self) -> str:
        """``#rrggbb`` for CSS and legends."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgba[:3])

    def entry(self) -> dict[str, Any]:
        """The legend entry: ``{min, max, colour, opacity, label_da, label_en}``."""
        return {
            "min": self.min,
            "max": self.max,
            "colour": self.colour,
            "opacity": round(self.rgba[3] / 255, 3),
            "label_da": self.label_da,
            "label_en": self.label_en,
        }


@dataclass(frozen=True)
class ColourScale:
    """A documented discrete colour map over a raster's units; values in no band are transparent."""

    id: str
    title: str
    units: str
    description: str
    bands: tuple[ColourBand, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.bands, key=lambda b: b.min))
        for band in ordered:
            if not band.min < band.max:
                raise SourceError(f"colour map {self.id}", f"band {band.min}..{band.max} is empty")
        for low, high in pairwise(ordered):
            if high.min < low.max:
                raise SourceError(
                    f"colour map {self.id}", f"bands {low.min}..{low.max} and {high.min} overlap"
                )
        object.__setattr__(self, "bands", ordered)

    def legend(self) -> list[dict[str, Any]]:
        """Legend entries, highest values (the strongest signal) first."""
        return [b.entry() for b in reversed(self.bands)]

    def apply(self, values: np.ma.MaskedArray) -> tuple[np.ndarray, np.ndarray]:
        """RGB (3, h, w) and alpha (h, w) uint8 arrays for a masked band."""
        data = np.ma.getdata(values)
        lowers = np.array([b.min for b in self.bands])
        uppers = np.array([b.max for b in self.bands] + [np.inf])
        table = np.array([b.rgba for b in self.bands] + [(0, 0, 0, 0)], dtype=np.uint8)
        i = np.searchsorted(lowers, data, side="right") - 1
        inside = (i >= 0) & (data < uppers[i]) & ~np.ma.getmaskarray(values)
        rgba = table[np.where(inside, i, len(self.bands))]
        return np.moveaxis(rgba[..., :3], -1, 0), rgba[..., 3]


def colour_scale(spec: str | Mapping[str, Any]) -> ColourScale:
    """A colour map by id (resolved through ``coverage.mobile.colours``) or written out.

    An unknown id is a :class:`NotFoundError`; a malformed map a :class:`SourceError`.
    """
    if isinstance(spec, Mapping):
        return _scale_from_dict(spec)
    try:
        from coverage.mobile.colours import colour_map
    except ImportError:
        raise NotFoundError(
            f"no colour map {spec!r}: the mobile colour maps are not installed"
        ) from None
    cmap = colour_map(str(spec))
    stops = sorted(cmap.stops, key=lambda s: s.lower)
    bands = tuple(
        ColourBand(
            float(s.lower),
            float(s.upper),
            tuple(int(c) for c in s.rgba),  # type: ignore[arg-type]
            getattr(s, "label_da", None)
            or _danish_label(i, len(stops), s.lower, s.upper, cmap.units),
            str(s.label),
        )
        for i, s in enumerate(stops)
    )
    return ColourScale(cmap.id, cmap.title, cmap.units, cmap.description, bands)


def _scale_from_dict(spec: Mapping[str, Any]) -> ColourScale:
    where = f"colour map {spec.get('id', '?')}"
    try:
        units = str(spec.get("units", ""))
        raw = sorted(spec["bands"], key=lambda b: float(b["min"]))
        bands = []
        for i, b in enumerate(raw):
            match = _HEX.match(str(b["colour"]))
            if match is None:
                raise ValueError(f"colour {b['colour']!r} is not #rrggbb")
            rgb = bytes.fromhex(match.group(1))
            alpha = round(float(b.get("opacity", 1.0)) * 255)
            lo, hi = float(b["min"]), float(b["max"])
            label_en = str(b.get("label_en") or _english_label(i, len(raw), lo, hi, units))
            label_da = str(b.get("label_da") or _danish_label(i, len(raw), lo, hi, units))
            bands.append(ColourBand(lo, hi, (rgb[0], rgb[1], rgb[2], alpha), label_da, label_en))
        return ColourScale(
            str(spec["id"]),
            str(spec.get("title", spec["id"])),
            units,
            str(spec.get("description", "")),
            tuple(bands),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(where, f"malformed colour map: {exc}") from None


def _number(value: float, decimal: str) -> str:
    text = f"{value:g}".replace(".", decimal)
    return text.replace("-", "−")


def _danish_label(i: int, n: int, lo: float, hi: float, units: str) -> str:
    """A band's range in Danish: open at the bottom and top of the scale."""
    if n > 1 and i == 0:
        return f"under {_number(hi, ',')} {units}".strip()
    if n > 1 and i == n - 1:
        return f"{_number(lo, ',')} {units} og derover".strip()
    return f"{_number(lo, ',')} til {_number(hi, ',')} {units}".strip()


def _english_label(i: int, n: int, lo: float, hi: float, units: str) -> str:
    if n > 1 and i == 0:
        return f"below {_number(hi, '.')} {units}".strip()
    if n > 1 and i == n - 1:
        return f"{_number(lo, '.')} {units} and above".strip()
    return f"{_number(lo, '.')} to {_number(hi, '.')} {units}".strip()


@dataclass(frozen=True)
class RasterSource:
    """A raster of a release: its file, colour map and description."""

    name: str
    path: Path
    scale: ColourScale
    title: str
    description: str = ""
    attribution: tuple[str, ...] = ()
    generated: bool = False


def raster_layers(release: Release) -> tuple[list[RasterSource], list[str]]:
    """The raster layers a release holds, and a note for each entry that cannot be served."""
    problems: list[str] = []
    entries = [(dict(e), release.path) for e in release.manifest.get("rasters", [])]
    mobile = release.manifest.get("mobile") or {}
    entries += [(dict(e), release.path) for e in mobile.get("layers", [])]
    for index in [release.path / "layers.json", *sorted(release.path.glob("*/layers.json"))]:
        if not index.is_file():
            continue
        try:  # paths in a layer index are relative to its own folder
            entries += [
                (dict(e), index.parent) for e in json.loads(index.read_text("utf-8"))["layers"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{index.relative_to(release.path)}: not a layer index ({exc})")
    for info in release.manifest.get("tables", {}).values():
        file = str(info.get("file", ""))
        if file.lower().endswith((".tif", ".tiff")):
            entries.append(({"name": Path(file).stem, "path": file, "_tags": True}, release.path))
    layers: dict[str, RasterSource] = {}
    described: set[Path] = set()
    for entry, base in entries:
        if entry.get("_tags") and (base / str(entry["path"])).resolve() in described:
            continue  # a GeoTIFF table an entry already describes is not a layer of its own
        try:
            layer = _layer(release, entry, base)
        except (SourceError, NotFoundError) as exc:
            problems.append(f"raster {entry.get('name', '?')!r}: {exc}")
            continue
        described.add(layer.path)
        layers.setdefault(layer.name, layer)  # the same layer listed twice: the first entry wins
    return list(layers.values()), problems


def _layer(release: Release, entry: Mapping[str, Any], base: Path) -> RasterSource:
    name = str(entry.get("name", "")).lower()
    if not LAYER_ID.match(name):
        raise SourceError(release.path, f"raster name {name!r} cannot be a layer id")
    path = (base / str(entry.get("path") or entry.get("file") or "")).resolve()
    if release.path.resolve() not in path.parents or not path.is_file():
        raise SourceError(path, "not a file inside the release folder")
    meta = dict(entry)
    if entry.get("_tags"):  # a bare table: its GeoTIFF tags say what it is
        with rasterio.open(path) as src:
            tags = src.tags()
        meta.update({k.lower(): v for k, v in tags.items()})
        meta.setdefault("colour_map", "rsrp" if tags.get("UNITS") == "dBm" else None)
    spec = meta.get("colour_map")
    if not spec:
        raise SourceError(path, "no colour map named for this raster")
    scale = colour_scale(spec)
    parts = [str(meta[k]) for k in ("operator", "technology", "environment") if meta.get(k)]
    title = str(meta.get("title") or f"{scale.title}: {' '.join(parts) or name}")
    generated = str(meta.get("generated", "false")).lower() in ("true", "1")
    description = str(meta.get("description") or scale.description)
    if generated:
        description += " Contains generated (synthetic) data."
    return RasterSource(
        name, path, scale, title, description, tuple(meta.get("attribution") or ()), generated
    )


@dataclass(frozen=True)
class _Pyramid:
    """A raster's pixel size, overview factors and the way from tile metres to its CRS."""

    resolution: float
    factors: tuple[int, ...]
    to_raster: Transformer

    def level(self, tile: morecantile.Tile) -> int:
        """The coarsest overview whose pixels are no larger than the tile's (-1: full size),
        as ``gdalwarp -ovr AUTO`` picks it."""
        b = TMS.xy_bounds(tile)
        middle = (b.top + b.bottom) / 2
        xs, ys = self.to_raster.transform([b.left, b.right], [middle, middle])
        pixel = float(np.hypot(xs[1] - xs[0], ys[1] - ys[0])) / TILE_SIZE
        level = -1
        for i, factor in enumerate(self.factors):
            if self.resolution * factor <= pixel:
                level = i
        return level


class RasterTiler:
    """PNG tiles and legends of raster layers; open datasets are kept and lent per request."""

    def __init__(self, layers: Iterable[RasterSource], *, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        self._layers: dict[str, RasterSource] = {}
        self._pyramids: dict[str, _Pyramid] = {}
        self.infos: dict[str, LayerInfo] = {}
        for layer in layers:
            try:
                with Reader(str(layer.path)) as src:
                    w, s, e, n = src.bounds
                    crs = src.crs.to_string()
                    bounds = lonlat_bounds((w, s, e, n), crs)
                    zooms = (max(0, src.minzoom - ZOOM_MARGIN), min(22, src.maxzoom + ZOOM_MARGIN))
                    pyramid = _Pyramid(
                        float(abs(src.dataset.res[0])),
                        tuple(src.dataset.overviews(1)),
                        Transformer.from_crs(TILE_CRS, crs, always_xy=True),
                    )
            except (rasterio.errors.RasterioError, OSError) as exc:
                self.problems.append(f"raster {layer.name!r}: cannot be read ({exc})")
                continue
            self._layers[layer.name] = layer
            self._pyramids[layer.name] = pyramid
            self.infos[layer.name] = LayerInfo(
                layer.name,
                "raster",
                layer.title,
                layer.description,
                zooms[0],
                zooms[1],
                bounds,
                base=layer.name,
                attribution=layer.attribution,
                generated=layer.generated,
            )
        for note in self.problems:
            log.warning("tiles: %s", note)
        self._idle: dict[tuple[str, int], list[Reader]] = {}

    @classmethod
    def from_release(cls, release: Release) -> RasterTiler:
        """The raster layers of a release (see :func:`raster_layers`)."""
        layers, problems = raster_layers(release)
        return cls(layers, problems=problems)

    def layers(self) -> list[LayerInfo]:
        """Every raster layer."""
        return list(self.infos.values())

    def layer(self, name: str) -> LayerInfo:
        """A raster layer by id; :class:`NotFoundError` with the known ids otherwise."""
        info = self.infos.get(name)
        if info is None:
            raise NotFoundError(
                f"no raster layer {name!r}", [{"id": k, "text": k} for k in self.infos]
            )
        return info

    def legend(self, name: str) -> dict[str, Any]:
        """A layer's colour map and legend entries ``{min, max, colour, label_da, label_en}``."""
        self.layer(name)
        scale = self._layers[name].scale
        return {
            "layer": name,
            "colour_map": scale.id,
            "title": scale.title,
            "units": scale.units,
            "description": scale.description,
            "entries": scale.legend(),
        }

    def tile(self, name: str, z: int, x: int, y: int) -> bytes | None:
        """A 256×256 RGBA PNG, or None when the tile holds no coloured pixel."""
        tile = check_tile(self.layer(name), z, x, y)
        layer = self._layers[name]
        try:
            # Read from the overview that matches the zoom: warping a zoom-8 tile out of the full
            # resolution decodes every block under it (38 against 11 ms measured on a region COG).
            with self._reader(layer, self._pyramids[name].level(tile)) as reader:
                image = reader.tile(
                    tile.x,
                    tile.y,
                    tile.z,
                    tilesize=TILE_SIZE,
                    resampling_method="nearest",
                    reproject_method="nearest",
                )
        except TileOutsideBounds:
            return None
        band = image.array[0]
        if np.ma.getmaskarray(band).all():
            return None
        rgb, alpha = layer.scale.apply(band)
        if not alpha.any():
            return None
        return bytes(render(rgb, alpha, img_format="PNG", ZLEVEL=PNG_ZLEVEL))

    @contextmanager
    def _reader(self, layer: RasterSource, level: int) -> Iterator[Reader]:
        """An idle reader of a layer at an overview level (-1: full resolution), lent to one
        request at a time and kept for the next.

        A GDAL handle must not be used by two threads at once, but may pass from one to another.
        Lending handles instead of keeping one per worker thread opens only as many as requests
        run at the same time: GDAL caches decoded blocks per handle, and with one handle per
        thread the same blocks were held once per thread (measured with 8 clients on the twelve
        region rasters: 527 MB resident after 30 s with a handle per thread, 390 MB lent).
        """
        idle = self._idle.setdefault((layer.name, level), [])
        try:
            reader = idle.pop()  # list.pop and list.append are atomic under the GIL
        except IndexError:
            options = {"overview_level": level} if level >= 0 else {}
            reader = Reader(str(layer.path), dataset=rasterio.open(layer.path, **options))
        try:
            yield reader
        finally:
            idle.append(reader)


__all__ = [
    "PNG_ZLEVEL",
    "TILE_SIZE",
    "ColourBand",
    "ColourScale",
    "RasterSource",
    "RasterTiler",
    "colour_scale",
    "raster_layers",
]
