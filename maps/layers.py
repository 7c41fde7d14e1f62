"""Building blocks of the folium pages: layers, panels, legend, notices, GeoJSON helpers.

Each function adds one thing to a map and takes frames ``coverage/`` computed. Colours and labels
come from :mod:`maps.style`, so pages and figures agree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from coverage.types import WEB_CRS
from maps.assets import PageAssets
from maps.style import (
    BOUNDARY_COLOUR,
    ELIGIBLE_STYLE,
    GENERATED_NOTICE_DA,
    GENERATED_NOTICE_EN,
    MOBILE_COLOURS,
    ZONE_COLOUR,
    PageInfo,
    esc,
    fmt_count,
    fmt_speed,
    mobile_class,
)

#: Decimal places kept for lon/lat in the pages: 6 places is about 0.1 m, finer than any address.
COORD_PRECISION = 6

#: A legend entry: label, colour, drawn as a dot (points) rather than a square (areas).
LegendEntry = tuple[str, str, bool]


@dataclass(frozen=True)
class RasterOverlay:
    """An image laid over the map: a PNG (RGBA, north up, Web Mercator rows) and its lon/lat box.

    ``bounds`` is ``((south, west), (north, east))``; ``legend`` lists (label, colour) pairs.
    """

    png: bytes
    bounds: tuple[tuple[float, float], tuple[float, float]]
    name: str
    legend: tuple[tuple[str, str], ...] = ()
    opacity: float = 0.65
    generated: bool = False


class Script(MacroElement):
    """JavaScript run once, after the map and the layers added before it exist."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "NetkortScript"
        self.code = code


class Html(MacroElement):
    """A block of HTML placed in the page body, over the map."""

    _template = Template("{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._name = "NetkortHtml"
        self.markup = markup


PAGE_CSS = """
<style>
.nk-panel{position:absolute;z-index:1000;background:rgba(255,255,255,.94);padding:8px 12px;
  border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.4);font:13px/1.35 system-ui,sans-serif;
  max-width:min(420px,90vw);max-height:70vh;overflow:auto}
.nk-title{top:10px;left:56px}
.nk-title h1{font-size:16px;margin:0 0 4px}
.nk-legend{bottom:64px;left:10px}
.nk-legend i{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:-2px;
  border:1px solid #555}
.nk-legend i.dot{border-radius:50%}
.nk-links{top:10px;right:64px}
.nk-links ul{margin:4px 0 0;padding-left:18px;columns:2}
.nk-generated{top:0;left:0;right:0;max-width:none;background:#b30000;color:#fff;
  font-weight:700;border-radius:0;text-align:center}
.nk-sources{font-size:11px;color:#333;margin-top:4px}
@media print{.nk-links{display:none}}
</style>
"""


def new_map(extent: gpd.GeoDataFrame, assets: PageAssets, *, prefer_canvas: bool) -> folium.Map:
    """A map fitted to a frame's extent, with no base map and the local assets."""
    west, south, east, north = to_web(extent).total_bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,  # the base map is a setting; none by default
        prefer_canvas=prefer_canvas,
        control_scale=True,
    )
    assets.apply(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def boundary_layer(fmap: folium.Map, areas: gpd.GeoDataFrame, name: str) -> folium.GeoJson:
    """Outlines (no fill) of municipalities or a region."""
    fields = [c for c in ("kommunekode", "kommunenavn") if c in areas]
    layer = folium.GeoJson(
        geojson(to_web(areas[[*fields, "geometry"]])),
        name=name,
        style_function=lambda _: {"color": BOUNDARY_COLOUR, "weight": 2, "fill": False},
    )
    layer.add_to(fmap)
    return layer


def mobile_points_layer(
    fmap: folium.Map, addresses: gpd.GeoDataFrame, assessment: pd.DataFrame
) -> int:
    """The declared mobile download per address, coloured by class; returns the points drawn."""
    speeds = assessment["mobile_down"].to_numpy("float64", na_value=np.nan)
    klass = mobile_class(speeds)
    keep = (klass >= 0) & _has_position(addresses)
    group = folium.FeatureGroup(name="Mobil, erklæret download / declared mobile")
    if keep.any():
        layer = gpd.GeoDataFrame(
            {
                "mobil": [fmt_speed(v) for v in speeds[keep]],
                "c": np.asarray(MOBILE_COLOURS, dtype=object)[klass[keep]],
            },
            geometry=to_web(addresses.loc[keep, ["geometry"]]).geometry.to_numpy(),
            crs=WEB_CRS,
        )
        folium.GeoJson(
            geojson(layer),
            marker=folium.CircleMarker(radius=2.5, weight=0, fill=True, fill_opacity=0.75),
            style_function=lambda feature: {"fillColor": feature["properties"]["c"]},
            tooltip=folium.GeoJsonTooltip(fields=["mobil"], aliases=["Mobil ned"]),
        ).add_to(group)
    group.add_to(fmap)
    return int(keep.sum())


def raster_layer(fmap: folium.Map, overlay: RasterOverlay, *, show: bool = True) -> None:
    """A modelled coverage image (PNG inlined as a data URL: the page stays one file)."""
    folium.raster_layers.ImageOverlay(
        image="data:image/png;base64," + base64.b64encode(overlay.png).decode("ascii"),
        bounds=[list(overlay.bounds[0]), list(overlay.bounds[1])],
        name=overlay.name,
        opacity=overlay.opacity,
        interactive=False,
        show=show,
    ).add_to(fmap)


def zones_layer(fmap: folium.Map, zones: gpd.GeoDataFrame) -> None:
    """Underserved zones (``coverage.zones.underserved_zones``) with counts in the tooltip."""
    group = folium.FeatureGroup(name="Underforsynede områder / underserved zones")
    if len(zones):
        z = to_web(zones)
        named = {
            "zone_id": "Område",
            "addresses": "Adresser",
            "eligible": "Støtteberettigede",
            "eligible_if_zone": "… hvis zonen holder",
        }
        fields = [c for c in named if c in z]
        props = pd.DataFrame({c: z[c].astype("string").fillna("–") for c in fields})
        folium.GeoJson(
            geojson(gpd.GeoDataFrame(props, geometry=z.geometry.to_numpy(), crs=WEB_CRS)),
            style_function=lambda _: {
                "color": ZONE_COLOUR,
                "weight": 1.5,
                "fillColor": ZONE_COLOUR,
                "fillOpacity": 0.25,
            },
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[named[f] for f in fields]),
        ).add_to(group)
    group.add_to(fmap)


def eligible_layer(
    fmap: folium.Map, addresses: gpd.GeoDataFrame, assessment: pd.DataFrame
) -> dict[str, int]:
    """Addresses in an eligible class, with speeds and the reason; returns counts per class."""
    klass = assessment["class"].astype("string").fillna("").to_numpy(dtype=object)
    keep = np.isin(klass, list(ELIGIBLE_STYLE)) & _has_position(addresses)
    counts = {k: int((klass[keep] == k).sum()) for k in ELIGIBLE_STYLE}
    group = folium.FeatureGroup(name="Støtteberettigede adresser / eligible addresses")
    if keep.any():
        rows = addresses.loc[keep]
        a = assessment.loc[keep]
        reason = a["reason_da"] if "reason_da" in a else pd.Series("", index=a.index)
        layer = gpd.GeoDataFrame(
            {
                "adresse": [
                    f"{v} {h}, {p}"
                    for v, h, p in zip(rows["vejnavn"], rows["husnr"], rows["postnr"], strict=True)
                ],
                "fast": [fmt_speed(v) for v in a["best_down"]],
                "mobil": [fmt_speed(v) for v in a["mobile_down"]],
                "klasse": [ELIGIBLE_STYLE[k][0] for k in klass[keep]],
                "begrundelse": reason.astype("string").fillna("").to_numpy(dtype=object),
                "c": [ELIGIBLE_STYLE[k][1] for k in klass[keep]],
            },
            geometry=to_web(rows[["geometry"]]).geometry.to_numpy(),
            crs=WEB_CRS,
        )
        folium.GeoJson(
            geojson(layer),
            marker=folium.CircleMarker(
                radius=6, color="#000", weight=1, fill=True, fill_opacity=0.9
            ),
            style_function=lambda feature: {"fillColor": feature["properties"]["c"]},
            tooltip=folium.GeoJsonTooltip(
                fields=["adresse", "fast", "mobil", "klasse", "begrundelse"],
                aliases=["Adresse", "Bedste faste ned", "Mobil ned", "Klasse", "Begrundelse"],
            ),
        ).add_to(group)
    group.add_to(fmap)
    return counts


def decorate(
    fmap: folium.Map,
    info: PageInfo,
    *,
    title: str,
    subtitle_html: str,
    legend_title: str,
    legend: Sequence[LegendEntry],
    generated: bool,
) -> None:
    """Title panel with the sources, the legend, and the generated notice when it applies.

    ``subtitle_html`` is trusted markup (callers escape what they put in it).
    """
    sources = "<br>".join(esc(line) for line in info.attribution)
    notice = (
        # A full-width bar; the map's controls and panels move down below it.
        "<style>.leaflet-top{top:44px}.nk-title,.nk-links{top:54px}</style>"
        f'<div class="nk-panel nk-generated" role="alert" id="nk-generated">'
        f"{esc(GENERATED_NOTICE_DA)} / {esc(GENERATED_NOTICE_EN)}</div>"
        if generated
        else ""
    )
    rows = "".join(
        f'<div><i class="{"dot" if dot else ""}" style="background:{esc(colour)}"></i>'
        f"{esc(label)}</div>"
        for label, colour, dot in legend
    )
    Html(
        PAGE_CSS + notice + f'<header class="nk-panel nk-title" id="nk-title"><h1>{esc(title)}</h1>'
        f"<div>{subtitle_html}</div>"
        f'<div class="nk-sources" id="nk-sources">{esc(info.source_line())}<br>{sources}</div>'
        f'</header><aside class="nk-panel nk-legend" aria-label="Signaturforklaring">'
        f"<strong>{esc(legend_title)}</strong>{rows}</aside>"
    ).add_to(fmap)
    if generated:
        # Also in the attribution line, which stays in any screenshot of the map alone.
        Script(
            f"{fmap.get_name()}.attributionControl.addAttribution("
            f"{json.dumps(esc(GENERATED_NOTICE_DA))});"
        ).add_to(fmap)


def link_list(links: Sequence[tuple[str, str]]) -> Html:
    """A panel listing (label, URL) links: the keyboard route to the municipality pages."""
    items = "".join(f'<li><a href="{esc(url)}">{esc(label)}</a></li>' for label, url in links)
    return Html(
        f'<nav class="nk-panel nk-links" aria-label="Kommuner"><strong>Kommuner</strong>'
        f"<ul>{items}</ul></nav>"
    )


def legend_count(label: str, count: int) -> str:
    """A legend label with a count, e.g. ``Støtteberettiget (1.234)``."""
    return f"{label} ({fmt_count(count)})"


def to_web(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in lon/lat (EPSG:4326), as Leaflet and GeoJSON want it."""
    return frame.to_crs(WEB_CRS) if frame.crs is not None and frame.crs != WEB_CRS else frame


def geojson(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """GeoJSON with coordinates rounded: smaller pages, no precision a map can show is lost."""
    rounded = frame.set_geometry(
        shapely.set_precision(frame.geometry.to_numpy(), 10.0**-COORD_PRECISION)
    )
    return json.loads(rounded.to_json(drop_id=True, na="null"))


def _has_position(frame: gpd.GeoDataFrame) -> np.ndarray:
    geoms = frame.geometry
    return (geoms.notna() & ~geoms.is_empty).to_numpy(dtype=bool)


__all__ = [
    "COORD_PRECISION",
    "PAGE_CSS",
    "Html",
    "LegendEntry",
    "RasterOverlay",
    "Script",
    "boundary_layer",
    "decorate",
    "eligible_layer",
    "geojson",
    "legend_count",
    "link_list",
    "mobile_points_layer",
    "new_map",
    "raster_layer",
    "to_web",
    "zones_layer",
]
