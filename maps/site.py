"""A folder of offline map pages and report figures, from frames ``coverage/`` computed.

Layout written by :func:`write_site` (what ``netkort map -o DIR`` produces)::

    DIR/index.html                 region overview (choropleth, links to every municipality page)
    DIR/kommune-<kode>.html        one page per municipality
    DIR/figures/*.png              report figures (maps.figures.FIGURE_FILES)
    DIR/vendor/...                 the vendored Leaflet & co (linked mode; none when inlined)
    DIR/README.txt                 what the folder is, which release and rule set, the sources
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from coverage.errors import InvalidRequestError
from maps.assets import BaseMap, PageAssets
from maps.figures import write_figures
from maps.layers import RasterOverlay
from maps.pages import municipality_page, page_name, region_page, write_page
from maps.style import GENERATED_NOTICE, PageInfo, StatColumns

#: Makes the mobile overlays for one municipality from its bounds (EPSG:25832); may return none.
OverlayMaker = Callable[[tuple[float, float, float, float]], Sequence[RasterOverlay]]


@dataclass
class SiteResult:
    """What :func:`write_site` wrote."""

    out_dir: Path
    index: Path
    pages: dict[str, Path] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


def write_site(out_dir: str | Path, info: PageInfo, **frames: Any) -> SiteResult:
    """Write the region page, one page per municipality and the figures (see :func:`_write_site`).

    A folder that cannot be written (missing parent, permissions, a full disk) is the user's
    problem to fix: it becomes one clear error naming the folder, not a traceback.
    """
    try:
        return _write_site(out_dir, info, **frames)
    except OSError as exc:
        where = exc.filename or out_dir
        raise InvalidRequestError(
            f"{where}: cannot write the map pages: {exc.strerror or exc}"
        ) from None


def _write_site(
    out_dir: str | Path,
    info: PageInfo,
    *,
    municipalities: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    assessment: pd.DataFrame,
    stats: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    columns: StatColumns | None = None,
    codes: Sequence[str] | None = None,
    assets: PageAssets | None = None,
    basemap: BaseMap | None = None,
    mobile: OverlayMaker | None = None,
    on_page: Callable[[str], None] | None = None,
) -> SiteResult:
    """Write the region page, one page per municipality (``codes``, default all) and the figures.

    ``addresses`` and ``assessment`` are row-aligned; ``zones`` may cover every municipality (each
    page takes its own). ``on_page`` is called with each municipality code before its page is
    rendered (progress).
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    assets = assets or PageAssets()
    assets.copy_to(folder)
    cols = columns or StatColumns()
    chosen = list(codes) if codes is not None else list(municipalities["kommunekode"].astype(str))

    muni_codes = municipalities["kommunekode"].astype(str).to_numpy()
    address_codes = addresses["kommunekode"].astype("string").fillna("").to_numpy(dtype=object)
    zone_codes = zones["kommunekode"].astype("string").fillna("").to_numpy(dtype=object)
    result = SiteResult(folder, folder / "index.html")
    for code in chosen:
        if on_page is not None:
            on_page(code)
        rows = address_codes == code
        muni = municipalities.loc[muni_codes == code]
        overlays = mobile(tuple(muni.total_bounds)) if mobile is not None else ()
        fmap = municipality_page(
            muni,
            info,
            addresses=addresses.loc[rows].reset_index(drop=True),
            assessment=assessment.loc[rows].reset_index(drop=True),
            zones=zones.loc[zone_codes == code],
            assets=assets,
            mobile=overlays,
            basemap=basemap,
        )
        result.pages[code] = write_page(fmap, folder / page_name(code))

    links = {code: page_name(code) for code in result.pages}
    region = region_page(
        municipalities, stats, info, assets=assets, basemap=basemap, links=links, columns=cols
    )
    write_page(region, result.index)
    result.figures = write_figures(folder / "figures", municipalities, stats, info, columns=cols)
    _readme(folder, info, result)
    return result


def _readme(folder: Path, info: PageInfo, result: SiteResult) -> None:
    lines = [
        "netkort map pages: open index.html in a browser (works offline, from file://).",
        "",
        info.source_line(),
        f"Region {info.region_code} {info.region_name}; rule set {info.rule_set_id}: "
        f"{info.rule_set_title}",
        "",
        "Sources:",
        *(f"  {line}" for line in info.attribution),
        "",
        f"Pages: index.html and {len(result.pages)} municipality page(s); figures in figures/.",
        "Web assets in vendor/ are npm packages with their licences (see vendor/VERSIONS.txt).",
    ]
    if info.generated:
        lines[0:0] = [f"*** {GENERATED_NOTICE} ***", ""]
    (folder / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


__all__ = ["OverlayMaker", "SiteResult", "write_site"]
