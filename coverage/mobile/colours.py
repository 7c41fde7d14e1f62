"""Colour maps for the mobile layers: one definition for tiles and legends alike.

The RSRP scale uses ColorBrewer's diverging *RdYlBu* (colour-blind safe, prints in grey) in the
usual LTE / NR signal bands; "no usable signal" is grey. The tile service can hand
:meth:`ColourMap.intervals` to rio-tiler (an interval colour map over the raster's own dBm values)
and draw the legend from :meth:`ColourMap.legend`, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coverage.errors import NotFoundError

RGBA = tuple[int, int, int, int]


@dataclass(frozen=True)
class ColourStop:
    """One band of a colour map: values in ``[lower, upper)`` are drawn in ``rgba``."""

    lower: float
    upper: float
    rgba: RGBA
    label: str

    @property
    def hex(self) -> str:
        """``#rrggbb`` for CSS and legends."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgba[:3])


@dataclass(frozen=True)
class ColourMap:
    """A named, documented set of colour bands over a layer's units."""

    id: str
    title: str
    units: str
    stops: tuple[ColourStop, ...]
    description: str

    def intervals(self) -> list[tuple[tuple[float, float], RGBA]]:
        """rio-tiler's interval colour map: ``[((lower, upper), (r, g, b, a)), ...]``."""
        return [((s.lower, s.upper), s.rgba) for s in self.stops]

    def legend(self) -> list[dict[str, Any]]:
        """Legend entries, strongest signal first, for web pages and report figures."""
        return [
            {"label": s.label, "color": s.hex, "lower": s.lower, "upper": s.upper}
            for s in reversed(self.stops)
        ]

    def colour_of(self, value: float) -> RGBA:
        """The colour of one value (transparent outside every band)."""
        for s in self.stops:
            if s.lower <= value < s.upper:
                return s.rgba
        return (0, 0, 0, 0)


_RSRP_STOPS = (
    ColourStop(-200.0, -120.0, (189, 189, 189, 200), "below −120 dBm: no usable signal"),
    ColourStop(-120.0, -110.0, (215, 48, 39, 220), "−120 to −110 dBm: cell edge"),
    ColourStop(-110.0, -100.0, (252, 141, 89, 220), "−110 to −100 dBm: poor"),
    ColourStop(-100.0, -90.0, (254, 224, 144, 220), "−100 to −90 dBm: fair"),
    ColourStop(-90.0, -80.0, (145, 191, 219, 220), "−90 to −80 dBm: good"),
    ColourStop(-80.0, 0.0, (69, 117, 180, 220), "−80 dBm and above: excellent"),
)

COLOUR_MAPS: dict[str, ColourMap] = {
    "rsrp": ColourMap(
        id="rsrp",
        title="Predicted signal (RSRP)",
        units="dBm",
        stops=_RSRP_STOPS,
        description=(
            "Reference-signal received power in 10 dB bands (ColorBrewer RdYlBu). Below −110 dBm "
            "is the default mobile gap threshold; below −120 dBm a phone rarely holds a connection."
        ),
    ),
    "mobile-class": ColourMap(
        id="mobile-class",
        title="Mobile download class",
        units="Mbit/s",
        stops=(
            ColourStop(0.0, 100.0, (215, 48, 39, 220), "below 100 Mbit/s"),
            ColourStop(100.0, 600.0, (254, 224, 144, 220), "100–599 Mbit/s"),
            ColourStop(600.0, 100_000.0, (69, 117, 180, 220), "600 Mbit/s and above"),
        ),
        description="The mapping's mobile classes (below 100 / 100–599 / 600+ Mbit/s down).",
    ),
    "gap-flag": ColourMap(
        id="gap-flag",
        title="Declared above observed",
        units="flag",
        stops=(ColourStop(1.0, 2.0, (118, 42, 131, 230), "declared class above measurements"),),
        description="Addresses whose declared mobile class is clearly above what was measured.",
    ),
}


def colour_map(name: str) -> ColourMap:
    """A documented colour map by id (``rsrp``, ``mobile-class``, ``gap-flag``)."""
    try:
        return COLOUR_MAPS[name]
    except KeyError:
        raise NotFoundError(
            f"no colour map {name!r}; known: {', '.join(COLOUR_MAPS)}",
            [{"id": k} for k in COLOUR_MAPS],
        ) from None


__all__ = ["COLOUR_MAPS", "ColourMap", "ColourStop", "colour_map"]
