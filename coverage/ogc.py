"""OGC API – Features, Part 1 (core) documents built from GeoDataFrames.

No HTTP objects here: the service passes its base URL and the query values and sends the returned
dicts as JSON. Features are GeoJSON in lon/lat (CRS84, RFC 7946). Every link carries ``rel`` and
``type`` so clients such as QGIS can follow them (landing page → collections → items → next page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.errors import InvalidRequestError, NotFoundError
from coverage.types import WEB_CRS

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

#: The conformance classes this implementation meets.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]

#: Limits of the ``limit`` parameter of item requests.
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000


@dataclass
class FeatureSource:
    """One collection's features in lon/lat, ordered by feature id, with a spatial index."""

    id: str
    title: str
    description: str
    frame: gpd.GeoDataFrame
    tree: shapely.STRtree
    bbox: tuple[float, float, float, float]

    @classmethod
    def from_frame(
        cls, id: str, title: str, description: str, frame: gpd.GeoDataFrame, id_column: str
    ) -> FeatureSource:
        """Reproject to lon/lat and index a GeoDataFrame whose ``id_column`` holds unique ids."""
        if frame.crs is None:
            raise InvalidRequestError(f"collection {id}: the layer has no CRS")
        frame = (
            frame.to_crs(WEB_CRS)
            if not frame.empty
            else frame.set_crs(WEB_CRS, allow_override=True)
        )
        # Ids as Arrow text, not a Python string each (eligible addresses of four rule sets are
        # ~200,000 features at region size).
        ids = frame[id_column].astype("string")
        frame = frame.set_index(pd.Index(ids.array, name="_fid")).sort_index(kind="stable")
        geoms = frame.geometry.array
        bounds = shapely.total_bounds(np.asarray(geoms)) if len(frame) else [np.nan] * 4
        bbox = (
            tuple(float(b) for b in bounds)
            if np.isfinite(bounds).all()
            else (-180.0, -90.0, 180.0, 90.0)
        )
        return cls(id, title, description, frame, shapely.STRtree(np.asarray(geoms)), bbox)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.frame)

    def select(self, bbox: tuple[float, float, float, float] | None) -> np.ndarray:
        """Positions of the features intersecting a lon/lat bbox (all without one), in id order."""
        if bbox is None:
            return np.arange(len(self.frame))
        return np.sort(self.tree.query(shapely.box(*bbox), predicate="intersects"))

    def position(self, feature_id: str) -> int:
        """The position of a feature by id, or NotFoundError."""
        pos = self.frame.index.get_indexer([feature_id])[0]
        if pos < 0:
            raise NotFoundError(f"collection {self.id} has no feature {feature_id!r}")
        return int(pos)


def link(href: str, rel: str, type: str = JSON, title: str | None = None) -> dict[str, str]:
    """One link object."""
    out = {"href": href, "rel": rel, "type": type}
    if title:
        out["title"] = title
    return out


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` (or the 6-number form with heights) in CRS84 degrees.

    Raises InvalidRequestError naming the problem: not numbers, wrong count, out of range, or
    minimum above maximum (a bbox across the antimeridian is not needed for Denmark).
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidRequestError(
            f"bbox {text!r} is not 4 numbers: expected minlon,minlat,maxlon,maxlat in degrees"
        ) from None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidRequestError(
            f"bbox {text!r} must be 4 finite numbers: minlon,minlat,maxlon,maxlat in degrees"
        )
    minx, miny, maxx, maxy = values
    if not (
        -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    ):
        raise InvalidRequestError(
            f"bbox {text!r} is outside lon -180..180 / lat -90..90: it must be in degrees (CRS84)"
        )
    if minx > maxx or miny > maxy:
        raise InvalidRequestError(f"bbox {text!r}: the minimum must not exceed the maximum")
    return minx, miny, maxx, maxy


def landing_page(base: str, title: str, description: str) -> dict[str, Any]:
    """The landing page (``/``): links to the API definition, conformance and collections."""
    return {
        "title": title,
        "description": description,
        "links": [
            link(f"{base}/", "self", JSON, "This document"),
            link(f"{base}/openapi.json", "service-desc", OPENAPI, "The API definition"),
            link(f"{base}/docs", "service-doc", HTML, "The API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            link(f"{base}/collections", "data", JSON, "Feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance declaration (``/conformance``)."""
    return {"conformsTo": list(CONFORMANCE)}


def collection_document(
    base: str, source: FeatureSource, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """One collection's description (``/collections/{id}``)."""
    query = f"?{urlencode(params)}" if params else ""
    href = f"{base}/collections/{quote(source.id)}"
    return {
        "id": source.id,
        "title": source.title,
        "description": source.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [list(source.bbox)], "crs": CRS84}},
        "links": [
            link(f"{href}{query}", "self", JSON, source.title),
            link(f"{href}/items{query}", "items", GEOJSON, f"{source.title} (GeoJSON)"),
        ],
    }


def collections_document(base: str, sources: list[FeatureSource]) -> dict[str, Any]:
    """All collections (``/collections``)."""
    return {
        "links": [link(f"{base}/collections", "self", JSON, "Feature collections")],
        "collections": [collection_document(base, s) for s in sources],
    }


def items_document(
    base: str,
    source: FeatureSource,
    matched: np.ndarray,
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One page of features (``/collections/{id}/items``) with self/next/prev/collection links.

    ``matched`` holds the positions of every feature matching the query (see
    :meth:`FeatureSource.select`); ``params`` the other query values (bbox, rules), kept in links.
    """
    if not (1 <= limit <= MAX_LIMIT):
        raise InvalidRequestError(f"limit {limit} must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise InvalidRequestError(f"offset {offset} must not be negative")
    page = matched[offset : offset + limit]
    doc = _features(source.frame.iloc[page])
    href = f"{base}/collections/{quote(source.id)}"
    keep = dict(params or {})

    def page_link(rel: str, at: int) -> dict[str, str]:
        query = urlencode({**keep, "limit": limit, "offset": at})
        return link(f"{href}/items?{query}", rel, GEOJSON, f"{rel} page")

    links = [page_link("self", offset)]
    if offset + limit < len(matched):
        links.append(page_link("next", offset + limit))
    if offset > 0:
        links.append(page_link("prev", max(0, offset - limit)))
    collection_query = f"?{urlencode(keep)}" if "rules" in keep else ""
    links.append(link(f"{href}{collection_query}", "collection", JSON, source.title))
    doc.update(
        {
            "numberMatched": len(matched),
            "numberReturned": len(page),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "links": links,
        }
    )
    return doc


def feature_document(
    base: str, source: FeatureSource, feature_id: str, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """One feature (``/collections/{id}/items/{featureId}``) with self and collection links."""
    pos = source.position(feature_id)
    feature = _features(source.frame.iloc[[pos]])["features"][0]
    query = f"?{urlencode(params)}" if params else ""
    href = f"{base}/collections/{quote(source.id)}"
    feature["links"] = [
        link(f"{href}/items/{quote(feature_id)}{query}", "self", GEOJSON, "This feature"),
        link(f"{href}{query}", "collection", JSON, source.title),
    ]
    return feature


def _features(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A FeatureCollection dict; NaN and <NA> become null (JSON has no NaN)."""
    return frame.to_geo_dict(na="null", show_bbox=False, drop_id=False)


__all__ = [
    "CONFORMANCE",
    "CRS84",
    "DEFAULT_LIMIT",
    "GEOJSON",
    "JSON",
    "MAX_LIMIT",
    "FeatureSource",
    "collection_document",
    "collections_document",
    "conformance",
    "feature_document",
    "items_document",
    "landing_page",
    "link",
    "parse_bbox",
]
