"""Folium pages: a region overview and one page per municipality, for ``file://`` with no network.

Both pages render frames ``coverage/`` computed; nothing here assesses, counts or aggregates.

* :func:`region_page`: a choropleth of the share of addresses with at least 100 Mbit/s fixed download
  per municipality, with addresses and eligible counts in the tooltip, and links to the municipality
  pages (a click on the map, or the list for keyboard users).
* :func:`municipality_page`: the municipality boundary, the underserved zones, the eligible addresses
  (eligible, blue, eligible if the zone rule holds) and the mobile layers: modelled coverage rasters
  when there are any, and the operators' declared mobile download per address.

Every page shows the release's attribution lines in a visible source panel, and a red notice when it
shows generated records. :func:`write_page` refuses a page that would load anything from the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.types import WEB_CRS
from maps.assets import BaseMap, PageAssets, add_basemap, assert_offline
from maps.layers import (
    LegendEntry,
    RasterOverlay,
    Script,
    boundary_layer,
    decorate,
    eligible_layer,
    geojson,
    legend_count,
    link_list,
    mobile_points_layer,
    new_map,
    raster_layer,
    to_web,
    zones_layer,
)
from maps.style import (
    BOUNDARY_COLOUR,
    ELIGIBLE_STYLE,
    MOBILE_COLOURS,
    MOBILE_LABELS,
    NO_DATA_COLOUR,
    SHARE_COLOURS,
    ZONE_COLOUR,
    PageInfo,
    StatColumns,
    esc,
    fmt_count,
    fmt_share,
    share_colour,
    share_labels,
)

#: Tooltip fields of the region choropleth and their labels.
_REGION_TOOLTIP = {
    "kommunenavn": "Kommune",
    "adresser": "Adresser",
    "andel_100": "Andel med mindst 100 Mbit/s",
    "stoetteberettigede": "Støtteberettigede",
    "hvis_zonen_holder": "… hvis zonen holder",
    "blaa": "… blå adresser",
    "genereret": "Genererede data",
}


def region_page(
    municipalities: gpd.GeoDataFrame,
    stats: pd.DataFrame,
    info: PageInfo,
    *,
    assets: PageAssets,
    basemap: BaseMap | None = None,
    links: Mapping[str, str] | None = None,
    columns: StatColumns | None = None,
) -> folium.Map:
    """The region overview: share of addresses with ≥100 Mbit/s per municipality.

    ``municipalities`` has kommunekode, kommunenavn and geometry (any CRS); ``stats`` has one row
    per municipality (other rows, such as the region total, are ignored) with the columns named by
    ``columns``. ``links`` maps kommunekode to the URL of that municipality's page.
    """
    cols = columns or StatColumns()
    joined = _join_stats(to_web(municipalities), stats, cols)
    fmap = new_map(joined, assets, prefer_canvas=False)
    add_basemap(fmap, basemap)

    links = dict(links or {})
    codes = joined["kommunekode"].astype(str)
    share = joined["share_100"].to_numpy("float64", na_value=np.nan)
    props = pd.DataFrame(
        {
            "kommunekode": codes,
            "kommunenavn": joined["kommunenavn"].astype(str),
            "fill": share_colour(share),
            "adresser": [fmt_count(v) for v in joined["addresses"]],
            "andel_100": [fmt_share(v) for v in share],
            "stoetteberettigede": [fmt_count(v) for v in joined["eligible"]],
            "hvis_zonen_holder": [fmt_count(v) for v in joined["eligible_if_zone"]],
            "blaa": [fmt_count(v) for v in joined["eligible_blue"]],
            "genereret": np.where(joined["generated"].fillna(0) > 0, "ja", "nej"),
            "side": [links.get(k, "") for k in codes],
        }
    )
    aliases = dict(_REGION_TOOLTIP, stoetteberettigede=f"Støtteberettigede ({info.rule_set_id})")
    choropleth = folium.GeoJson(
        geojson(gpd.GeoDataFrame(props, geometry=joined.geometry.to_numpy(), crs=WEB_CRS)),
        name="Andel ≥100 Mbit/s / share ≥100 Mbit/s",
        style_function=lambda feature: {
            "fillColor": feature["properties"]["fill"],
            "fillOpacity": 0.8,
            "color": BOUNDARY_COLOUR,
            "weight": 1,
        },
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.95},
        tooltip=folium.GeoJsonTooltip(
            fields=list(aliases), aliases=list(aliases.values()), sticky=True
        ),
        zoom_on_click=False,
    )
    choropleth.add_to(fmap)
    if links:
        Script(
            f"{choropleth.get_name()}.eachLayer(function(l){{var u=l.feature.properties.side;"
            "if(u){l.on('click',function(){window.location.href=u;});}});"
        ).add_to(fmap)
        link_list(
            [(n, links[k]) for k, n in zip(codes, props["kommunenavn"], strict=True) if k in links]
        ).add_to(fmap)

    legend: list[LegendEntry] = [
        (label, colour, False) for label, colour in zip(share_labels(), SHARE_COLOURS, strict=True)
    ]
    legend.append(("ingen adresser i udgivelsen / no data", NO_DATA_COLOUR, False))
    decorate(
        fmap,
        info,
        title=f"{info.region_name or 'Regionen'}: fast net med mindst 100 Mbit/s",
        subtitle_html="Andel af adresserne med data i bredbåndskortlægningen, pr. kommune "
        "(bedste faste download)." + (" Klik på en kommune for dens side." if links else ""),
        legend_title="Andel adresser ≥100 Mbit/s",
        legend=legend,
        generated=info.generated,
    )
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def municipality_page(
    municipality: gpd.GeoDataFrame,
    info: PageInfo,
    *,
    addresses: gpd.GeoDataFrame,
    assessment: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    assets: PageAssets,
    mobile: Sequence[RasterOverlay] = (),
    basemap: BaseMap | None = None,
    back_link: str | None = "index.html",
) -> folium.Map:
    """One municipality: boundary, underserved zones, eligible addresses and mobile layers.

    ``municipality`` is one row (kommunekode, kommunenavn, geometry); ``addresses`` and
    ``assessment`` are row-aligned (one assessment row per address, as ``coverage.assess`` returns
    them); ``zones`` is ``coverage.zones.underserved_zones`` output. ``mobile`` holds modelled
    coverage images (the first is shown, the others can be switched on); without any, the legend
    says the release has no modelled layer. The declared mobile download per address is always a
    layer.
    """
    if len(addresses) != len(assessment):
        raise ValueError(
            f"assessment has {len(assessment)} rows for {len(addresses)} addresses; "
            "expected them row-aligned"
        )
    code = str(municipality["kommunekode"].iloc[0])
    name = str(municipality["kommunenavn"].iloc[0])
    # Canvas: a large municipality has tens of thousands of address points.
    fmap = new_map(municipality, assets, prefer_canvas=True)
    add_basemap(fmap, basemap)
    legend: list[LegendEntry] = []

    for i, overlay in enumerate(mobile):
        raster_layer(fmap, overlay, show=i == 0)
    if mobile:
        legend += [(f"{label}", colour, False) for label, colour in mobile[0].legend]
    else:
        legend.append(("Modelleret mobildækning: ikke i denne udgivelse", "#ffffff", False))
    boundary_layer(fmap, municipality, "Kommunegrænse / boundary")
    points = mobile_points_layer(fmap, addresses, assessment)
    legend += [
        (f"Mobil (erklæret) {label}", colour, True)
        for label, colour in zip(MOBILE_LABELS, MOBILE_COLOURS, strict=True)
    ]
    zones_layer(fmap, zones)
    legend.append((legend_count("Underforsynet område", len(zones)), ZONE_COLOUR, False))
    counts = eligible_layer(fmap, addresses, assessment)
    legend += [
        (legend_count(ELIGIBLE_STYLE[k][0], counts[k]), ELIGIBLE_STYLE[k][1], True)
        for k in ELIGIBLE_STYLE
    ]

    generated = (
        _any(addresses, "generated")
        or _any(assessment, "generated")
        or _any(zones, "generated")
        or any(o.generated for o in mobile)
    )
    back = f' · <a href="{esc(back_link)}">Regionsoversigt</a>' if back_link else ""
    decorate(
        fmap,
        info,
        title=f"{name} ({code})",
        subtitle_html=f"{fmt_count(len(addresses))} adresser ({fmt_count(points)} med mobildata), "
        f"{fmt_count(len(zones))} underforsynede områder, regler {esc(info.rule_set_id)}{back}",
        legend_title="Lag / layers",
        legend=legend,
        generated=generated,
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def write_page(fmap: folium.Map, path: str | Path) -> Path:
    """Render a page to ``path`` after checking its markup loads nothing from the network."""
    rendered = fmap.get_root().render()
    assert_offline(rendered)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered, encoding="utf-8")
    return target


def page_name(kommunekode: str) -> str:
    """File name of a municipality's page, e.g. ``kommune-0741.html``."""
    return f"kommune-{kommunekode}.html"


def _join_stats(
    munis: gpd.GeoDataFrame, stats: pd.DataFrame, cols: StatColumns
) -> gpd.GeoDataFrame:
    """Municipalities with the numbers the page shows, by kommunekode (missing ones stay NaN)."""
    picked = pd.DataFrame({"kommunekode": stats[cols.kommunekode].astype(str).to_numpy()})
    for target in ("addresses", "share_100", "eligible", "eligible_if_zone", "eligible_blue"):
        source = getattr(cols, target)
        picked[target] = (
            pd.to_numeric(stats[source], errors="coerce").to_numpy("float64", na_value=np.nan)
            if source in stats
            else np.nan
        )
    picked["generated"] = (
        pd.to_numeric(stats[cols.generated], errors="coerce").to_numpy("float64", na_value=np.nan)
        if cols.generated in stats
        else np.nan
    )
    picked = picked.drop_duplicates("kommunekode")
    out = munis.assign(kommunekode=munis["kommunekode"].astype(str)).merge(
        picked, on="kommunekode", how="left"
    )
    return gpd.GeoDataFrame(out, geometry=munis.geometry.name, crs=munis.crs)


def _any(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and bool(frame[column].fillna(False).astype(bool).any())


__all__ = ["municipality_page", "page_name", "region_page", "write_page"]
