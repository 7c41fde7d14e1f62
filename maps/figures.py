"""Report figures as PNG (matplotlib, Agg): a choropleth, shares per municipality, eligible counts.

Figures are built on :class:`matplotlib.figure.Figure` objects with an Agg canvas, never through
pyplot, so nothing depends on a display or on global pyplot state, and a figure is freed when it
goes out of scope. Every figure has the same pixel size (:data:`FIGURE_PX`), its sources and
release in a footer, and the generated-data notice in red when the release holds generated records.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from coverage.types import WORK_CRS
from maps.style import (
    BOUNDARY_COLOUR,
    ELIGIBLE_STYLE,
    GENERATED_NOTICE,
    NO_DATA_COLOUR,
    SHARE_COLOURS,
    PageInfo,
    StatColumns,
    fmt_count,
    fmt_share,
    share_colour,
    share_labels,
)

#: Figure size in inches and resolution: 1500 × 1125 px, a 4:3 picture for an A4 report page.
FIGURE_INCHES = (10.0, 7.5)
FIGURE_DPI = 150
FIGURE_PX = (int(FIGURE_INCHES[0] * FIGURE_DPI), int(FIGURE_INCHES[1] * FIGURE_DPI))

#: The shares drawn by :func:`shares_figure`: (StatColumns attribute, label, colour).
SHARE_SERIES = (
    ("share_30", "fast ≥30 Mbit/s", "#c7e9b4"),
    ("share_100", "fast ≥100 Mbit/s", "#41b6c4"),
    ("share_1000", "fast ≥1.000 Mbit/s", "#253494"),
    ("share_mobile_100", "mobil ≥100 Mbit/s", "#9e9ac8"),
)

#: File names written by :func:`write_figures`.
FIGURE_FILES = ("choropleth_100.png", "shares.png", "eligible.png")


def choropleth_figure(
    municipalities: gpd.GeoDataFrame,
    stats: pd.DataFrame,
    info: PageInfo,
    *,
    columns: StatColumns | None = None,
) -> Figure:
    """Map of the share of addresses with ≥100 Mbit/s per municipality (grey hatched: no data)."""
    cols = columns or StatColumns()
    munis = municipalities.to_crs(WORK_CRS) if municipalities.crs != WORK_CRS else municipalities
    share = _by_code(stats, cols, cols.share_100).reindex(munis["kommunekode"].astype(str))
    values = share.to_numpy("float64", na_value=np.nan)
    fig, ax = _figure(
        info,
        "Andel adresser med mindst 100 Mbit/s fast net, pr. kommune",
        axes=(0.02, 0.78),
        note="Andel af adresserne med data i bredbåndskortlægningen.",
    )
    missing = ~np.isfinite(values)
    munis.plot(ax=ax, color=share_colour(values), edgecolor=BOUNDARY_COLOUR, linewidth=0.5)
    if missing.any():
        munis.loc[missing].plot(
            ax=ax, facecolor=NO_DATA_COLOUR, edgecolor=BOUNDARY_COLOUR, linewidth=0.5, hatch="///"
        )
    # Label municipalities that have data with their share, at a point inside the polygon.
    inside = munis.geometry.representative_point()
    for point, value, name in zip(inside, values, munis["kommunenavn"], strict=True):
        if np.isfinite(value):
            ax.annotate(
                f"{name}\n{fmt_share(value)}",
                (point.x, point.y),
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    handles = [
        Patch(facecolor=c, edgecolor=BOUNDARY_COLOUR, label=label)
        for label, c in zip(share_labels(), SHARE_COLOURS, strict=True)
    ]
    handles.append(
        Patch(facecolor=NO_DATA_COLOUR, edgecolor=BOUNDARY_COLOUR, hatch="///", label="ingen data")
    )
    ax.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
        title="Andel ≥100 Mbit/s",
        frameon=False,
    )
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig


def shares_figure(
    stats: pd.DataFrame, info: PageInfo, *, columns: StatColumns | None = None
) -> Figure:
    """Horizontal bars per municipality: shares of addresses at ≥30, ≥100, ≥1000 and mobile ≥100."""
    cols = columns or StatColumns()
    rows = _rows(stats, cols)
    fig, ax = _figure(
        info,
        "Andel adresser efter hastighed, pr. kommune",
        note="Andel af adresserne med data i bredbåndskortlægningen.",
    )
    n = len(rows)
    height = 0.8 / len(SHARE_SERIES)
    y = np.arange(n)
    for i, (attr, label, colour) in enumerate(SHARE_SERIES):
        column = getattr(cols, attr)
        values = _numeric(rows, column)
        ax.barh(
            y + (i - 1.5) * height, np.nan_to_num(values) * 100, height, label=label, color=colour
        )
    no_data = ~np.isfinite(_numeric(rows, cols.share_100))
    labels = [
        f"{name} (ingen data)" if empty else name
        for name, empty in zip(rows["_name"], no_data, strict=True)
    ]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("Andel af adresserne med data (%)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def eligible_figure(
    stats: pd.DataFrame, info: PageInfo, *, columns: StatColumns | None = None
) -> Figure:
    """Stacked bars per municipality: eligible, blue and eligible-if-the-zone-holds addresses."""
    cols = columns or StatColumns()
    rows = _rows(stats, cols, include_total=False)
    fig, ax = _figure(info, f"Adresser der kan få støtte fra bredbåndspuljen ({info.rule_set_id})")
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for key, column in (
        ("eligible", cols.eligible),
        ("eligible_blue", cols.eligible_blue),
        ("eligible_if_zone", cols.eligible_if_zone),
    ):
        values = np.nan_to_num(_numeric(rows, column))
        label, colour = ELIGIBLE_STYLE[key]
        ax.barh(y, values, left=left, label=label, color=colour)
        left += values
    for yi, total in zip(y, left, strict=True):
        ax.annotate(
            fmt_count(total),
            (total, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, list(rows["_name"]), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Adresser")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(1.0, float(left.max(initial=0))) * 1.15)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG at :data:`FIGURE_PX` (no tight cropping: every figure is the same size)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(target, dpi=FIGURE_DPI, format="png")
    return target


def write_figures(
    out_dir: str | Path,
    municipalities: gpd.GeoDataFrame,
    stats: pd.DataFrame,
    info: PageInfo,
    *,
    columns: StatColumns | None = None,
) -> list[Path]:
    """Write the report figures (:data:`FIGURE_FILES`) into ``out_dir``."""
    folder = Path(out_dir)
    figures = (
        choropleth_figure(municipalities, stats, info, columns=columns),
        shares_figure(stats, info, columns=columns),
        eligible_figure(stats, info, columns=columns),
    )
    return [save_figure(f, folder / name) for f, name in zip(figures, FIGURE_FILES, strict=True)]


# --------------------------------------------------------------------------------------------------
# Helpers


def _figure(
    info: PageInfo, title: str, *, axes: tuple[float, float] = (0.22, 0.74), note: str = ""
) -> tuple[Figure, Axes]:
    """A figure with title, generated notice and a footer of sources; returns (figure, axes).

    ``axes`` is the left edge and width of the plot area (room for long municipality names on
    bar charts; the full width for a map with its legend on the right).
    """
    fig = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    footer = [info.source_line(), *info.attribution]
    lines = [textwrap.shorten(line, 150, placeholder="…") for line in footer]
    bottom = 0.04 + 0.022 * len(lines)
    top = 0.86 if info.generated else 0.91
    ax = fig.add_axes((axes[0], bottom + 0.06, axes[1], top - bottom - 0.08))
    fig.suptitle(title, x=0.02, y=0.975, ha="left", fontsize=13, fontweight="bold")
    if note:
        fig.text(0.02, 0.935, note, ha="left", va="center", fontsize=9, color="#333333")
    if info.generated:
        fig.text(
            0.5,
            0.895,
            GENERATED_NOTICE,
            ha="center",
            va="center",
            color="white",
            fontsize=10,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.4", "fc": "#b30000", "ec": "none"},
        )
    fig.text(0.02, 0.015, "\n".join(lines), ha="left", va="bottom", fontsize=7, color="#333333")
    return fig, ax


def _rows(stats: pd.DataFrame, cols: StatColumns, *, include_total: bool = True) -> pd.DataFrame:
    """Municipality rows sorted by name, with the region total (if the frame has one) first.

    Municipality rows are those with ``level == "municipality"`` when the frame has a level
    column, else those whose code is a municipality code (``0101``–``0999``).
    """
    codes = stats[cols.kommunekode].astype("string")
    names = (
        stats[cols.kommunenavn].astype("string")
        if cols.kommunenavn in stats
        else pd.Series(codes, index=stats.index)
    )
    if cols.level in stats:
        is_muni = (stats[cols.level].astype("string") == "municipality").fillna(False)
    else:
        is_muni = codes.str.fullmatch(r"0\d{3}").fillna(False)
    is_muni = is_muni.to_numpy(dtype=bool)
    munis = stats.loc[is_muni].assign(_name=names[is_muni].fillna(codes[is_muni]))
    munis = munis.sort_values("_name", kind="stable")
    if not include_total or is_muni.all():
        return munis.reset_index(drop=True)
    total = stats.loc[~is_muni].head(1)
    label = names[~is_muni].head(1).fillna("").iloc[0]
    total = total.assign(_name=f"I alt ({label})" if label else "I alt")
    return pd.concat([total, munis], ignore_index=True)


def _by_code(stats: pd.DataFrame, cols: StatColumns, column: str) -> pd.Series:
    values = _numeric(stats, column)
    return (
        pd.Series(values, index=stats[cols.kommunekode].astype(str).to_numpy())
        .groupby(level=0)
        .first()
    )


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy("float64", na_value=np.nan)


__all__ = [
    "FIGURE_DPI",
    "FIGURE_FILES",
    "FIGURE_INCHES",
    "FIGURE_PX",
    "SHARE_SERIES",
    "choropleth_figure",
    "eligible_figure",
    "save_figure",
    "shares_figure",
    "write_figures",
]
