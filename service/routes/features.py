"""OGC API – Features, Part 1 core: landing page, conformance, collections, items, one feature.

Collections: ``municipalities``; ``eligible-addresses`` and ``zones`` when the release is assessed
(newest rule set by default, ``rules`` picks another). Documents come from ``coverage.ogc``; this
module only parses the request and sets the content type QGIS expects (``application/geo+json``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from coverage import ogc
from service.dependencies import BaseUrl, ItemsParams, RulesParam, Settings, State
from service.errors import ERROR_RESPONSES, JSON_ERROR_RESPONSES
from service.routes.pages import citizen_page, wants_html

router = APIRouter(tags=["OGC API - Features"])


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type."""

    media_type = ogc.GEOJSON


class Link(BaseModel):
    """A link with its relation and media type."""

    href: str
    rel: str
    type: str
    title: str | None = None


class LandingPage(BaseModel):
    """The API's entry point."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes met."""

    conformsTo: list[str]


class Extent(BaseModel):
    """Spatial extent in CRS84."""

    spatial: dict[str, Any]


class Collection(BaseModel):
    """One feature collection."""

    id: str
    title: str
    description: str
    itemType: str
    crs: list[str]
    storageCrs: str
    extent: Extent
    links: list[Link]


class Collections(BaseModel):
    """The feature collections."""

    links: list[Link]
    collections: list[Collection]


class Feature(BaseModel):
    """A GeoJSON feature."""

    model_config = ConfigDict(extra="allow")
    type: str = "Feature"
    id: str | int
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    links: list[Link] = []


class FeatureCollection(BaseModel):
    """A page of GeoJSON features."""

    type: str = "FeatureCollection"
    features: list[Feature]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]


_GEOJSON_OK: dict[int | str, dict[str, Any]] = {200: {"content": {ogc.GEOJSON: {}}}}
CollectionId = Annotated[str, PathParam(description="Collection id.", max_length=100)]


@router.get(
    "/",
    response_model=LandingPage,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/html": {}}}},
)
def landing(
    base: BaseUrl,
    settings: Settings,
    request: Request,
    response: Response,
    f: Annotated[
        Literal["json", "html"] | None,
        Query(description="json: this document; html: the citizen page. Default: by Accept."),
    ] = None,
) -> dict[str, Any] | HTMLResponse:
    """Landing page: links to the API definition, conformance and the collections. Browsers
    (``Accept: text/html``) and ``?f=html`` get the citizen page instead."""
    if wants_html(request, f):
        return citizen_page(request)
    response.headers["Vary"] = "Accept"
    state = request.app.state.watcher.state  # the landing page answers even before a release
    served = f", release {state.release.id}" if state is not None else ""
    return ogc.landing_page(
        base,
        settings.title,
        "Broadband and mobile coverage and broadband-pool eligibility for Region Midtjylland"
        f"{served}.",
    )


@router.get("/conformance", response_model=Conformance, responses=ERROR_RESPONSES)
def conformance() -> dict[str, Any]:
    """The OGC conformance classes this service implements."""
    return ogc.conformance()


@router.get("/collections", response_model=Collections, responses=ERROR_RESPONSES)
def collections(state: State, base: BaseUrl) -> dict[str, Any]:
    """The feature collections of the loaded release."""
    return ogc.collections_document(base, state.collections())


@router.get("/collections/{collection_id}", response_model=Collection, responses=ERROR_RESPONSES)
def collection(
    state: State,
    base: BaseUrl,
    collection_id: CollectionId,
    rules: Annotated[RulesParam, Depends()],
) -> dict[str, Any]:
    """One collection's description and links."""
    source = state.feature_source(collection_id, rules.rules)
    params = {"rules": rules.rules} if rules.rules else None
    return ogc.collection_document(base, source, params)


@router.get(
    "/collections/{collection_id}/items",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
    responses={**JSON_ERROR_RESPONSES, **_GEOJSON_OK},
)
def items(
    state: State,
    base: BaseUrl,
    collection_id: CollectionId,
    params: Annotated[ItemsParams, Depends()],
) -> GeoJSONResponse:
    """Features as GeoJSON (lon/lat), filtered by ``bbox``, paged by ``limit`` and ``offset``."""
    source = state.feature_source(collection_id, params.rules)
    bbox = ogc.parse_bbox(params.bbox) if params.bbox is not None else None
    keep = {k: v for k, v in (("bbox", params.bbox), ("rules", params.rules)) if v}
    doc = ogc.items_document(
        base,
        source,
        source.select(bbox),
        limit=params.limit,
        offset=params.offset,
        params=keep,
    )
    return GeoJSONResponse(doc)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_model=Feature,
    response_class=GeoJSONResponse,
    responses={**JSON_ERROR_RESPONSES, **_GEOJSON_OK},
)
def feature(
    state: State,
    base: BaseUrl,
    collection_id: CollectionId,
    feature_id: Annotated[str, PathParam(description="Feature id.", max_length=200)],
    rules: Annotated[RulesParam, Depends()],
) -> GeoJSONResponse:
    """One feature by id."""
    source = state.feature_source(collection_id, rules.rules)
    params = {"rules": rules.rules} if rules.rules else None
    return GeoJSONResponse(ogc.feature_document(base, source, feature_id, params))


__all__ = ["GeoJSONResponse", "router"]
