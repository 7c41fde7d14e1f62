"""Offline asset wiring for folium pages: vendored Leaflet & co instead of CDNs, and the base map.

folium 0.20 writes ``<script src="https://cdn...">`` tags for Leaflet, jQuery, Bootstrap, Font Awesome
and Leaflet.awesome-markers, and an OpenStreetMap tile layer by default. netkort's pages must open from
``file://`` on a machine with no network, so every page gets its assets from the npm packages vendored
in ``service/static/vendor`` (see ``scripts/vendor-assets.sh`` and ``VERSIONS.txt`` there), either

* **linked**: the vendor folder is copied beside the pages and referenced by relative URLs (several
  pages share one copy; the default for ``netkort map``), or
* **inlined**: every script and stylesheet becomes a ``data:`` URL, with the images and fonts it
  references inlined too, so a single HTML file is self-contained.

Two of folium's stylesheets have no npm package (Bootstrap 3 glyphicons and folium's own marker
rotation CSS): they are left out, so glyphicon-prefixed icons and rotated awesome markers are not
available; netkort's pages use neither.

The base map is a setting (``NETKORT_BASEMAP_URL``), empty by default: without one the pages still show
boundaries and layers on a plain background. A base map URL is the user's explicit choice of a tile
source (typically a local tile server); nothing else on a page may point off the machine, which
:func:`assert_offline` checks on every rendered page's markup.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import folium
from pydantic_settings import BaseSettings, SettingsConfigDict

from coverage.errors import SourceError
from coverage.settings import PROJECT_ROOT

#: The vendored npm files (committed; refreshed by ``scripts/vendor-assets.sh``).
VENDOR_DIR = PROJECT_ROOT / "service" / "static" / "vendor"

#: Scripts every folium map loads, as (folium's name, path inside the vendor folder), in load order.
FOLIUM_JS: tuple[tuple[str, str], ...] = (
    ("leaflet", "leaflet/leaflet.js"),
    ("jquery", "jquery/jquery.min.js"),
    ("bootstrap", "bootstrap/js/bootstrap.bundle.min.js"),
    ("awesome_markers", "leaflet.awesome-markers/leaflet.awesome-markers.js"),
)

#: Stylesheets every folium map loads, as (folium's name, path inside the vendor folder).
FOLIUM_CSS: tuple[tuple[str, str], ...] = (
    ("leaflet_css", "leaflet/leaflet.css"),
    ("bootstrap_css", "bootstrap/css/bootstrap.min.css"),
    ("awesome_markers_font_css", "fontawesome-free/css/all.min.css"),
    ("awesome_markers_css", "leaflet.awesome-markers/leaflet.awesome-markers.css"),
)

AssetMode = Literal["linked", "inline"]

_CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")
_TTF_FALLBACK = re.compile(r",\s*url\([^)]*\.ttf\)\s*format\([\"']truetype[\"']\)")
# Tags that make the browser fetch something: scripts, stylesheets, images, frames.
_FETCHING_TAG = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?\s*(https?:)?//",
    re.IGNORECASE,
)


class BaseMap(NamedTuple):
    """A raster tile layer under the map: a URL template ``.../{z}/{x}/{y}.png`` and its credit."""

    url: str
    attribution: str
    max_zoom: int = 19


class MapSettings(BaseSettings):
    """Settings of the map pages (``NETKORT_`` prefix, ``.env`` supported)."""

    model_config = SettingsConfigDict(env_prefix="NETKORT_", env_file=".env", extra="ignore")

    basemap_url: str = ""
    """Tile URL template for a base map (``NETKORT_BASEMAP_URL``); empty means no base map."""

    basemap_attribution: str = ""
    """Credit line the tile source requires (``NETKORT_BASEMAP_ATTRIBUTION``)."""

    basemap_max_zoom: int = 19
    """Deepest zoom level the tile source serves (``NETKORT_BASEMAP_MAX_ZOOM``)."""

    def basemap(self) -> BaseMap | None:
        """The configured base map, or None (the default: no base map at all)."""
        if not self.basemap_url.strip():
            return None
        return BaseMap(self.basemap_url.strip(), self.basemap_attribution, self.basemap_max_zoom)


@dataclass(frozen=True)
class PageAssets:
    """How pages reach the vendored files: relative links to a copied folder, or inlined.

    ``prefix`` is the URL of the vendor folder as seen from the page in ``linked`` mode (``vendor``
    for pages written beside a ``vendor/`` folder, ``../vendor`` for pages one level down).
    """

    mode: AssetMode = "linked"
    prefix: str = "vendor"
    vendor_dir: Path = VENDOR_DIR

    def __post_init__(self) -> None:
        check_vendor(self.vendor_dir)

    def js(self) -> list[tuple[str, str]]:
        """folium ``default_js`` entries pointing at the vendored scripts."""
        return [(name, self._url(path, "text/javascript")) for name, path in FOLIUM_JS]

    def css(self) -> list[tuple[str, str]]:
        """folium ``default_css`` entries pointing at the vendored stylesheets."""
        return [(name, self._url(path, "text/css")) for name, path in FOLIUM_CSS]

    def apply(self, fmap: folium.Map) -> folium.Map:
        """Point one map at the local assets (fresh lists: folium's class defaults stay untouched)."""
        fmap.default_js = self.js()
        fmap.default_css = self.css()
        return fmap

    def copy_to(self, out_dir: Path) -> Path | None:
        """Copy the vendor folder to ``out_dir/<prefix>`` for linked pages; inline needs nothing."""
        if self.mode == "inline":
            return None
        target = (Path(out_dir) / self.prefix).resolve()
        if target == self.vendor_dir.resolve():
            return target  # pages written next to the vendor folder itself
        shutil.copytree(self.vendor_dir, target, dirs_exist_ok=True)
        return target

    def _url(self, path: str, mime: str) -> str:
        if self.mode == "linked":
            return f"{self.prefix.rstrip('/')}/{path}"
        source = self.vendor_dir / path
        data = source.read_bytes()
        if mime == "text/css":
            # Every browser that runs Leaflet 1.9 reads woff2: the TrueType fallbacks would only
            # double the size of an inlined page.
            css = _TTF_FALLBACK.sub("", data.decode("utf-8"))
            data = _inline_css_urls(css, source.parent).encode("utf-8")
        elif path == "leaflet/leaflet.js":
            data += _inline_default_icon(source.parent / "images").encode("ascii")
        return _data_url(data, mime)


def check_vendor(vendor_dir: Path = VENDOR_DIR) -> None:
    """Raise :class:`SourceError` naming the first vendored file that is missing."""
    for _, path in (*FOLIUM_JS, *FOLIUM_CSS):
        if not (vendor_dir / path).is_file():
            raise SourceError(
                vendor_dir / path,
                "vendored web asset is missing; restore service/static/vendor from git or run "
                "scripts/vendor-assets.sh",
            )


def add_basemap(fmap: folium.Map, basemap: BaseMap | None) -> None:
    """Add the configured base map as the bottom layer (nothing when there is none)."""
    if basemap is None:
        return
    folium.TileLayer(
        tiles=basemap.url,
        attr=basemap.attribution or "base map",
        name="Baggrundskort / base map",
        max_zoom=basemap.max_zoom,
        overlay=False,
        control=True,
    ).add_to(fmap)


def assert_offline(html: str) -> None:
    """Raise ``ValueError`` when a rendered page's markup would fetch a script, style or image.

    A guard against a folium element that brings its own CDN link: that is a bug, not a user
    error. A base map's tiles are requested by Leaflet at run time, not by the markup, so the
    user's chosen tile source passes.
    """
    match = _FETCHING_TAG.search(html)
    if match is not None:
        tag = html[match.start() : html.find(">", match.start()) + 1]
        raise ValueError(f"page would load from the network: {tag[:200]}")


def _inline_css_urls(css: str, base: Path) -> str:
    """Replace ``url(relative)`` references to vendored files by ``data:`` URLs."""

    def replace(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:", "//")):
            return match.group(0)
        target = (base / ref.split("?")[0].split("#")[0]).resolve()
        if not target.is_file():
            return match.group(0)
        return f'url("{_data_url(target.read_bytes(), _mime(target))}")'

    return _CSS_URL.sub(replace, css)


def _inline_default_icon(images: Path) -> str:
    """JS appended to an inlined Leaflet: default marker images as data URLs.

    Leaflet finds its marker images through the URL of ``leaflet.css``; an inlined stylesheet has no
    folder, so the image URLs are given directly (``imagePath`` empty, full URLs in the options).
    """
    urls = {
        option: _data_url((images / name).read_bytes(), "image/png")
        for option, name in (
            ("iconUrl", "marker-icon.png"),
            ("iconRetinaUrl", "marker-icon-2x.png"),
            ("shadowUrl", "marker-shadow.png"),
        )
    }
    options = ",".join(f'{key}:"{value}"' for key, value in urls.items())
    return f'\n;L.Icon.Default.imagePath="";L.Icon.Default.mergeOptions({{{options}}});\n'


def _mime(path: Path) -> str:
    known = {
        ".woff2": "font/woff2",
        ".woff": "font/woff",
        ".ttf": "font/ttf",
        ".svg": "image/svg+xml",
    }
    return (
        known.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


__all__ = [
    "FOLIUM_CSS",
    "FOLIUM_JS",
    "VENDOR_DIR",
    "AssetMode",
    "BaseMap",
    "MapSettings",
    "PageAssets",
    "add_basemap",
    "assert_offline",
    "check_vendor",
]
