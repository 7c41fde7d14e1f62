"""Municipalities, statistics, rule sets, export downloads, health and metrics."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process
from starlette.background import BackgroundTask

from coverage.addresstext import fold
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.export import FORMATS, ExportMetadata, build_layers, export
from service.dependencies import ExportParams, MunicipalityCode, State, get_watcher
from service.errors import ERROR_RESPONSES, UnavailableError
from service.state import ReleaseWatcher, ServiceState, describe_stats

router = APIRouter()

_MEDIA_TYPES = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "fgb": "application/flatgeobuf",
    "parquet": "application/vnd.apache.parquet",
    "shp": "application/zip",
    "csv": "text/csv; charset=utf-8",
}


class Municipality(BaseModel):
    """A municipality of the release's region."""

    kommunekode: str
    kommunenavn: str
    area_km2: float
    addresses: int = Field(description="Addresses of the release in the municipality.")
    bbox: list[float] = Field(description="minlon, minlat, maxlon, maxlat (CRS84).")


class MunicipalityDetail(Municipality):
    """A municipality with its statistics row (when statistics are available)."""

    stats: dict[str, Any] | None


class MunicipalityList(BaseModel):
    """All municipalities of the release."""

    release_id: str
    municipalities: list[Municipality]


class StatsAnswer(BaseModel):
    """Statistics per municipality plus the region total."""

    release_id: str
    rows: list[dict[str, Any]]


class RuleSetOut(BaseModel):
    """One pool rule set."""

    id: str
    years: list[int]
    title: dict[str, str]
    assessed: bool


class RuleSetList(BaseModel):
    """The pool rule sets, oldest first; ``default`` is the newest assessed one."""

    default: str | None
    rule_sets: list[RuleSetOut]


class Health(BaseModel):
    """Which release is served and since when."""

    status: str
    release_id: str
    created: str | None
    loaded_at: str
    generated: bool
    addresses: int
    layers: dict[str, Any]
    reloads: int
    reload_failures: int
    problem: str | None = Field(description="The last refused release, if any.")


def _municipality_rows(state: ServiceState) -> list[dict[str, Any]]:
    source = state.features["municipalities"][""]
    counts = state.index.table["kommunekode"].value_counts()
    bounds = source.frame.geometry.bounds.to_numpy()
    return [
        {
            "kommunekode": str(code),
            "kommunenavn": str(name),
            "area_km2": round(float(area), 3),
            "addresses": int(counts.get(code, 0)),
            "bbox": [round(float(v), 6) for v in b],
        }
        for code, name, area, b in zip(
            source.frame["kommunekode"],
            source.frame["kommunenavn"],
            source.frame["area_km2"],
            bounds,
            strict=True,
        )
    ]


@router.get(
    "/api/municipalities",
    response_model=MunicipalityList,
    responses=ERROR_RESPONSES,
    tags=["municipalities"],
)
def municipalities(state: State) -> dict[str, Any]:
    """The municipalities of the release with their address counts and extents."""
    return {"release_id": state.release.id, "municipalities": _municipality_rows(state)}


@router.get(
    "/api/municipalities/{code}",
    response_model=MunicipalityDetail,
    responses=ERROR_RESPONSES,
    tags=["municipalities"],
)
def municipality(state: State, code: MunicipalityCode) -> dict[str, Any]:
    """One municipality by code (``0741``) or name (``Samsø``), with its statistics."""
    rows = _municipality_rows(state)
    key = fold(code)
    for row in rows:
        if (
            key in (row["kommunekode"], fold(row["kommunenavn"]))
            or key.zfill(4) == row["kommunekode"]
        ):
            stats = None
            if state.stats is not None and "kommunekode" in state.stats.columns:
                match = state.stats[state.stats["kommunekode"] == row["kommunekode"]]
                stats = describe_stats(match)[0] if len(match) else None
            return {**row, "stats": stats}
    names = [fold(r["kommunenavn"]) for r in rows]
    near = process.extract(key, names, scorer=fuzz.WRatio, limit=5, score_cutoff=50)
    picks = [rows[i] for _, _, i in near] or rows[:5]
    raise NotFoundError(
        f"no municipality {code!r} in this release; codes are 4 digits, e.g. 0741",
        [{"id": r["kommunekode"], "text": f"{r['kommunekode']} {r['kommunenavn']}"} for r in picks],
    )


@router.get("/api/stats", response_model=StatsAnswer, responses=ERROR_RESPONSES, tags=["stats"])
def stats(
    state: State,
    municipality: Annotated[
        list[str] | None, Query(description="Only these municipality codes (and the total).")
    ] = None,
) -> dict[str, Any]:
    """Coverage and pool statistics per municipality, plus the region total."""
    if state.stats is None:
        raise UnavailableError("no statistics: the release has no assessed addresses")
    frame = state.stats
    if municipality:
        known = set(frame["kommunekode"].dropna().astype(str))
        unknown = [m for m in municipality if m not in known]
        if unknown:
            raise NotFoundError(
                f"unknown municipality code(s) {', '.join(unknown)}",
                [{"id": k, "text": k} for k in sorted(known)[:5]],
            )
        frame = frame[frame["kommunekode"].isin(municipality) | frame["kommunekode"].isna()]
    return {"release_id": state.release.id, "rows": describe_stats(frame)}


@router.get("/api/rules", response_model=RuleSetList, responses=ERROR_RESPONSES, tags=["stats"])
def rules(state: State) -> dict[str, Any]:
    """The pool rule sets and which are assessed in the loaded release."""
    sets = state.context.rule_sets
    return {
        "default": state.default_rules,
        "rule_sets": [
            {
                "id": r.id,
                "years": [r.first_year, r.last_year],
                "title": r.title.model_dump(),
                "assessed": r.id in state.context.assessments,
            }
            for r in sets.values()
        ],
    }


@router.get(
    "/api/export",
    response_class=FileResponse,
    responses={**ERROR_RESPONSES, 200: {"content": {t: {} for t in _MEDIA_TYPES.values()}}},
    tags=["export"],
)
def export_file(state: State, params: Annotated[ExportParams, Depends()]) -> FileResponse:
    """Download layers (eligible addresses, zones, ...) in a GIS or spreadsheet format. Written to
    a temporary folder, streamed, then removed; several files come as one zip."""
    rid = state.rule_set_id(params.rules)
    munis = params.municipality or None
    if munis is not None and len(munis) > 99:
        raise InvalidRequestError("at most 99 municipality codes per export")
    rule_set = state.context.rule_sets[rid]
    layers = build_layers(state.release, params.what, rule_set, municipalities=munis)
    folder = Path(tempfile.mkdtemp(prefix="netkort-export-"))
    try:
        stem = f"netkort-{params.what}-{rid}"
        target = folder / f"{stem}{FORMATS[params.format]}"
        meta = ExportMetadata.for_release(
            state.release,
            rule_set=rule_set,
            filters={"what": params.what, "municipalities": munis},
        )
        files = export(layers, params.format, target, meta)
        if len(files) == 1:
            path, media = files[0], _MEDIA_TYPES[params.format]
        else:
            path, media = folder / f"{stem}.zip", "application/zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
                for f in files:
                    bundle.write(f, f.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get("/healthz", response_model=Health, responses=ERROR_RESPONSES, tags=["service"])
def healthz(
    state: State, watcher: Annotated[ReleaseWatcher, Depends(get_watcher)]
) -> dict[str, Any]:
    """The release served, when it was loaded, which layers it has, and reload counts."""
    return {
        "status": "ok",
        "release_id": state.release.id,
        "created": state.release.manifest.get("created"),
        "loaded_at": state.loaded_at.isoformat(timespec="seconds"),
        "generated": state.release.generated,
        "addresses": len(state.index.table),
        "layers": {
            "assessment": list(state.context.assessments),
            "zones": list(state.context.zones),
            "stats": state.stats is not None,
            "collections": list(state.features),
        },
        "reloads": watcher.metrics.reloads,
        "reload_failures": watcher.metrics.reload_failures,
        "problem": watcher.problem,
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
    tags=["service"],
)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests by route and status, latency, release, reload failures."""
    watcher: ReleaseWatcher = request.app.state.watcher
    state = watcher.state
    text = watcher.metrics.render(state.release.id if state is not None else None)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
