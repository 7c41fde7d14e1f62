"""What pages and figures share: the page facts (release, rule set, sources), classes, colours, text.

One palette and one set of class breaks serve the folium pages and the matplotlib figures, so a
planner sees the same colour for the same value in the browser and in the report.
"""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The notice on every page and figure that shows generated records (synthetic data).
GENERATED_NOTICE_DA = "Indeholder genererede data (netkort synth), ikke rigtige data"
GENERATED_NOTICE_EN = "Contains generated records (netkort synth), not real data"
GENERATED_NOTICE = f"{GENERATED_NOTICE_DA} / {GENERATED_NOTICE_EN}"

#: Class breaks for a share of addresses (0..1): lower edges of each class, ascending.
SHARE_BREAKS = (0.0, 0.80, 0.90, 0.95, 0.98, 0.99)
#: One colour per share class, light (few served) to dark (all served); colour-blind safe (YlGnBu).
SHARE_COLOURS = ("#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
#: Fill for a municipality without addresses or mapping rows.
NO_DATA_COLOUR = "#d9d9d9"
#: Outline colour of boundaries.
BOUNDARY_COLOUR = "#333333"

#: Assessment classes shown as "eligible" on the maps, with label and colour.
ELIGIBLE_STYLE: dict[str, tuple[str, str]] = {
    "eligible": ("Støtteberettiget / eligible", "#d7301f"),
    "eligible_blue": ("Blå adresse (10–20 Mbit/s) / blue address", "#2166ac"),
    "eligible_if_zone": ("Støtteberettiget hvis zonen holder / if the zone rule holds", "#fd8d3c"),
}

#: Declared mobile download classes (Mbit/s lower edges), labels and colours.
MOBILE_BREAKS = (0.0, 100.0, 600.0)
MOBILE_LABELS = ("under 100 Mbit/s", "100–599 Mbit/s", "600 Mbit/s eller mere")
#: Dark is the weaker service; purples keep the mobile layer apart from the eligible markers.
MOBILE_COLOURS = ("#54278f", "#9e9ac8", "#dadaeb")

#: Fill colour of underserved zones.
ZONE_COLOUR = "#e7298a"


@dataclass(frozen=True)
class PageInfo:
    """What every page and figure states about its data: release, rule set, sources, generated."""

    release_id: str
    created: str
    region_code: str
    region_name: str
    rule_set_id: str
    rule_set_title: str
    attribution: tuple[str, ...]
    generated: bool
    mapping_years: tuple[int, ...] = ()

    @classmethod
    def from_manifest(cls, release_id: str, manifest: dict[str, Any], rules: Any) -> PageInfo:
        """Facts from a release manifest and a rule set (``coverage.rules.RuleSet``)."""
        region = manifest.get("region") or {}
        years = sorted(
            {
                int(i["year"])
                for i in manifest.get("inputs", [])
                if i.get("kind") == "mapping" and i.get("year")
            }
        )
        return cls(
            release_id=release_id,
            created=str(manifest.get("created", "")),
            region_code=str(region.get("code", "")),
            region_name=str(region.get("name", "")),
            rule_set_id=rules.id,
            rule_set_title=rules.title.da,
            attribution=tuple(manifest.get("attribution", [])),
            generated=bool(manifest.get("generated", False)),
            mapping_years=tuple(years),
        )

    def source_line(self) -> str:
        """One line naming the release, its date, the mapping year(s) and the rule set."""
        years = ", ".join(str(y) for y in self.mapping_years) or "ukendt"
        return (
            f"Udgivelse {self.release_id} ({self.created[:10]}), bredbåndskortlægning {years}, "
            f"regler {self.rule_set_id}"
        )


@dataclass(frozen=True)
class StatColumns:
    """Where pages and figures find their numbers in a statistics frame (one row per municipality).

    The defaults are the column names of ``coverage.stats.municipality_stats``, whose shares are of
    the addresses with a mapping row; the eligible counts are per rule set, see
    :meth:`for_rule_set`. A frame from elsewhere is rendered by naming its columns here.
    """

    kommunekode: str = "kommunekode"
    kommunenavn: str = "kommunenavn"
    level: str = "level"
    addresses: str = "addresses"
    with_data: str = "with_data"
    share_30: str = "fixed_30_share"
    share_100: str = "fixed_100_share"
    share_1000: str = "fixed_1000_share"
    share_100_30: str = "fixed_100_30_share"
    share_mobile_100: str = "mobile_100_share"
    share_mobile_600: str = "mobile_600_share"
    eligible: str = "eligible"
    eligible_if_zone: str = "eligible_if_zone"
    eligible_blue: str = "eligible_blue"
    generated: str = "generated"

    @classmethod
    def for_rule_set(cls, rule_set_id: str) -> StatColumns:
        """Columns of ``municipality_stats`` with the eligible counts of one rule set."""
        return cls(
            eligible=f"eligible_{rule_set_id}",
            eligible_if_zone=f"eligible_if_zone_{rule_set_id}",
            eligible_blue=f"eligible_blue_{rule_set_id}",
        )


def share_class(values: np.ndarray) -> np.ndarray:
    """Index into :data:`SHARE_COLOURS` per share (0..1); -1 where the share is missing."""
    shares = np.asarray(values, dtype="float64")
    out = np.searchsorted(np.asarray(SHARE_BREAKS), shares, side="right") - 1
    out = np.clip(out, 0, len(SHARE_BREAKS) - 1)
    out[~np.isfinite(shares)] = -1
    return out


def share_colour(values: np.ndarray) -> np.ndarray:
    """Fill colour per share, :data:`NO_DATA_COLOUR` where missing."""
    palette = np.array([*SHARE_COLOURS, NO_DATA_COLOUR], dtype=object)
    return palette[share_class(values)]  # -1 picks the last entry: no data


def share_labels() -> list[str]:
    """Legend labels for the share classes, e.g. ``80–90 %``."""
    edges = [*SHARE_BREAKS, 1.0]
    labels = []
    for low, high in itertools.pairwise(edges):
        if low == 0.0:
            labels.append(f"under {_pct(high)}")
        elif high == 1.0:
            labels.append(f"{_pct(low)} eller mere")
        else:
            labels.append(f"{_pct(low)}–{_pct(high)}")
    return labels


def mobile_class(values: np.ndarray) -> np.ndarray:
    """Index into :data:`MOBILE_COLOURS` per mobile download; -1 where missing."""
    speeds = np.asarray(values, dtype="float64")
    out = np.searchsorted(np.asarray(MOBILE_BREAKS), speeds, side="right") - 1
    out = np.clip(out, 0, len(MOBILE_BREAKS) - 1)
    out[~np.isfinite(speeds)] = -1
    return out


def fmt_share(value: float | None) -> str:
    """A share as Danish percent with one decimal (``97,7 %``), ``ingen data`` when missing."""
    if value is None or not math.isfinite(float(value)):
        return "ingen data"
    return f"{100 * float(value):.1f} %".replace(".", ",")


def fmt_count(value: object) -> str:
    """A count with Danish thousands separators (``4.591``), ``–`` when missing."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(number):
        return "–"
    return f"{round(number):,}".replace(",", ".")


def fmt_speed(value: object) -> str:
    """A speed in Mbit/s (``1.000 Mbit/s``), ``ingen data`` when missing."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "ingen data"
    if not math.isfinite(number):
        return "ingen data"
    return f"{fmt_count(number)} Mbit/s"


def esc(text: object) -> str:
    """HTML-escaped text (quotes too)."""
    return html.escape(str(text), quote=True)


def _pct(share: float) -> str:
    return f"{100 * share:g} %".replace(".", ",")


__all__ = [
    "BOUNDARY_COLOUR",
    "ELIGIBLE_STYLE",
    "GENERATED_NOTICE",
    "GENERATED_NOTICE_DA",
    "GENERATED_NOTICE_EN",
    "MOBILE_BREAKS",
    "MOBILE_COLOURS",
    "MOBILE_LABELS",
    "NO_DATA_COLOUR",
    "SHARE_BREAKS",
    "SHARE_COLOURS",
    "ZONE_COLOUR",
    "PageInfo",
    "StatColumns",
    "esc",
    "fmt_count",
    "fmt_share",
    "fmt_speed",
    "mobile_class",
    "share_class",
    "share_colour",
    "share_labels",
]
