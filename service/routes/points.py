"""``POST /api/points``: what coverage is at up to 10,000 positions, in one request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator

from coverage.errors import InvalidRequestError
from coverage.memory import HEAVY_BUILD, release_memory
from coverage.points import DEFAULT_DISTANCE, MAX_DISTANCE, PointIndex, work_coordinates
from coverage.types import WEB_CRS
from service.dependencies import State
from service.errors import ERROR_RESPONSES, ErrorBody, UnavailableError, error_response
from service.state import ServiceState

router = APIRouter(prefix="/api", tags=["points"])

#: Most points one request may ask about; more get 413.
MAX_POINTS = 10_000

# Strict: JSON true/false or "10.5" are not coordinates (lax mode would read them as numbers).
Coordinate = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class PointsRequest(BaseModel):
    """Positions to answer for, in one CRS, under one rule set."""

    model_config = ConfigDict(extra="forbid")
    crs: Literal["EPSG:4326", "EPSG:25832"] = Field(
        "EPSG:4326", description="EPSG:4326: [lon, lat] in degrees; EPSG:25832: [east, north] in m."
    )
    rules: str | None = Field(
        None, max_length=20, description="Rule set id (2024-2025) or year (2025); default newest."
    )
    max_distance: Annotated[float, Strict()] = Field(
        DEFAULT_DISTANCE, ge=0, le=MAX_DISTANCE, description="Nearest-address radius, metres."
    )
    points: list[tuple[Coordinate, Coordinate]] = Field(
        min_length=1,
        description=f"[x, y] pairs in ``crs``; at most {MAX_POINTS:,} (more: 413).",
        examples=[[[10.5497, 55.8569], [10.6012, 55.9290]]],
    )

    @field_validator("points")
    @classmethod
    def _in_denmark(
        cls, points: list[tuple[float, float]], info: ValidationInfo
    ) -> list[tuple[float, float]]:
        if len(points) > MAX_POINTS:  # refused with 413 by the route, not checked further
            return points
        x, y = zip(*points, strict=True)
        try:
            work_coordinates(x, y, info.data.get("crs", WEB_CRS), label="points[{}]")
        except InvalidRequestError as exc:
            raise ValueError(str(exc)) from None
        return points


class CellOut(BaseModel):
    """The point's DDKN 100 m cell and the coverage of the addresses in it."""

    name: str
    addresses: int
    median_best_down: float | None = Field(description="Mbit/s over addresses with data.")
    share_100: float | None = Field(description="Share of the cell's addresses with ≥ 100 down.")
    eligible: int
    eligible_if_zone: int


class NearestOut(BaseModel):
    """The nearest address within ``max_distance``, and its class under the rule set."""

    model_config = ConfigDict(populate_by_name=True)
    id: str
    distance_m: float
    class_: str | None = Field(alias="class")


class PointAnswer(BaseModel):
    """What is known at one position."""

    x: float
    y: float
    east: float
    north: float
    kommunekode: str | None
    kommunenavn: str | None
    kommune_source: str | None = Field(
        description="polygon, or nearest_address where the position is in no polygon (coast)."
    )
    cell: CellOut
    nearest: NearestOut | None
    generated: bool


class PointsAnswer(BaseModel):
    """One answer per position, in the order asked."""

    release: str
    rule_set: str
    crs: str
    max_distance_m: float
    count: int
    generated: bool
    results: list[PointAnswer]


@router.post(
    "/points",
    response_model=PointsAnswer,
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorBody, "description": f"More than {MAX_POINTS:,} points."},
    },
    summary="What coverage is at these positions?",
)
def points(state: State, body: PointsRequest, request: Request) -> Any:
    """Municipality, DDKN 100 m cell with its coverage, and the nearest address, per position."""
    if len(body.points) > MAX_POINTS:
        return error_response(
            413, f"{len(body.points):,} points: at most {MAX_POINTS:,} per request"
        )
    rid = state.rule_set_id(body.rules)
    x, y = zip(*body.points, strict=True)
    east, north = work_coordinates(x, y, body.crs)
    frame = point_index(request, state).query(
        east, north, rules=rid, max_distance=body.max_distance
    )
    results = _records(x, y, frame)
    return {
        "release": state.release.id,
        "rule_set": rid,
        "crs": body.crs,
        "max_distance_m": body.max_distance,
        "count": len(results),
        "generated": state.release.generated or any(r["generated"] for r in results),
        "results": results,
    }


def point_index(request: Request, state: ServiceState) -> PointIndex:
    """The point index of the state's release, built once from the loaded tables and kept while
    that release is served (a new release replaces it)."""
    built = getattr(state, "points", None)
    if isinstance(built, PointIndex):
        return built
    if not state.context.assessments or state.context.municipalities is None:
        raise UnavailableError("point answers need the pool assessment, which is not loaded")
    with HEAVY_BUILD:  # one region-size build at a time (tile layers too)
        cached: tuple[str, PointIndex] | None = getattr(request.app.state, "point_index", None)
        if cached is None or cached[0] != state.release.id:
            index = PointIndex.from_tables(
                state.index.table, state.context.municipalities, state.context.assessments
            )
            cached = (state.release.id, index)
            request.app.state.point_index = cached
            release_memory()  # building leaves ~100 MB of freed pages behind; the service lives long
        return cached[1]


def _records(x: tuple[float, ...], y: tuple[float, ...], frame: Any) -> list[dict[str, Any]]:
    """Rows of the answer frame as JSON-ready dicts (null for NaN / <NA>)."""
    columns = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame}
    out = []
    for i in range(len(frame)):
        near = columns["nearest_id"][i]
        out.append(
            {
                "x": x[i],
                "y": y[i],
                "east": columns["east"][i],
                "north": columns["north"][i],
                "kommunekode": columns["kommunekode"][i],
                "kommunenavn": columns["kommunenavn"][i],
                "kommune_source": columns["kommune_source"][i],
                "cell": {
                    "name": columns["ddkn_m100"][i],
                    "addresses": columns["cell_addresses"][i],
                    "median_best_down": columns["cell_median_down"][i],
                    "share_100": columns["cell_share_100"][i],
                    "eligible": columns["cell_eligible"][i],
                    "eligible_if_zone": columns["cell_eligible_if_zone"][i],
                },
                "nearest": None
                if near is None
                else {
                    "id": near,
                    "distance_m": columns["nearest_distance_m"][i],
                    "class": columns["nearest_class"][i],
                },
                "generated": columns["generated"][i],
            }
        )
    return out


__all__ = ["MAX_POINTS", "PointsAnswer", "PointsRequest", "point_index", "router"]
