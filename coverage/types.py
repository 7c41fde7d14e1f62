"""Shared type aliases and constants."""

from __future__ import annotations

from typing import Literal

#: The working CRS: ETRS89 / UTM zone 32N, metres. Areas, distances, grids and buffers live here.
WORK_CRS = "EPSG:25832"

#: Lon/lat for GeoJSON (RFC 7946) and the web.
WEB_CRS = "EPSG:4326"

#: Denmark's envelope in EPSG:25832 (xmin, ymin, xmax, ymax), with a margin for the coast and
#: Bornholm / Christiansø in the east. A point outside it is not a Danish address.
DENMARK_BOUNDS_25832 = (420_000.0, 6_030_000.0, 910_000.0, 6_420_000.0)

#: Denmark's envelope in lon/lat degrees.
DENMARK_BOUNDS_LONLAT = (7.8, 54.4, 15.3, 57.9)

#: Fixed-network technologies in the broadband mapping, in display order.
FIXED_TECHNOLOGIES = ("fiber", "coax", "xdsl", "fwa")

Technology = Literal["fiber", "coax", "xdsl", "fwa"]

#: Largest speed the mapping may hold, Mbit/s.
MAX_SPEED_MBIT = 10_000.0
