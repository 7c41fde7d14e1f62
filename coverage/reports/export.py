"""Reports for the operators: CSV and GeoPackage through :func:`coverage.export.export`.

Contact details never reach a file: the layer is built from :meth:`Report.public`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.errors import InvalidRequestError
from coverage.export import ExportMetadata, export
from coverage.reports.store import Report, ReportFilter, ReportStore
from coverage.types import WORK_CRS


def reports_frame(reports: list[Report]) -> gpd.GeoDataFrame:
    """Reports as a point layer in EPSG:25832 without contact details (no geometry for a mapping
    row that matched no register address); times as ISO 8601 text in UTC."""
    records = [r.public() for r in reports]
    columns = [f.name for f in fields(Report) if f.name not in Report.CONTACT]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in ("created_at", "updated_at", "speedtest_at"):
        frame[name] = [v.isoformat(timespec="seconds") if v else None for v in frame[name]]
    east = pd.to_numeric(frame["east"], errors="coerce").to_numpy(float)
    north = pd.to_numeric(frame["north"], errors="coerce").to_numpy(float)
    points = shapely.points(east, north)  # NaN coordinates give empty points
    points = np.where(np.isnan(east) | np.isnan(north), None, points)
    out = gpd.GeoDataFrame(frame, geometry=gpd.array.from_shapely(points, crs=WORK_CRS))
    out.attrs["geometry_type"] = "Point"
    return out


def export_reports(
    store: ReportStore,
    fmt: str,
    path: str | Path,
    filter: ReportFilter | None = None,
    *,
    release: Any = None,
) -> list[Path]:
    """Write the reports matching ``filter`` (all of them, not one page) as CSV or GeoPackage via
    :func:`coverage.export.export`; contact details are never written. Returns the files."""
    if fmt not in ("csv", "gpkg"):
        raise InvalidRequestError(f"reports export as csv or gpkg, not {str(fmt)[:20]!r}")
    f = replace(filter or ReportFilter(), limit=None, offset=0).checked()
    reports, _ = store.list(f)
    if release is not None:
        meta = ExportMetadata.for_release(release, filters=_filters(f))
    else:
        meta = ExportMetadata(release_id="none", filters=_filters(f))
    return export({"reports": reports_frame(reports)}, fmt, path, meta)


def _filters(f: ReportFilter) -> dict[str, Any]:
    out = {n: getattr(f, n) for n in ("status", "kind", "kommunekode", "address_id")}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items() if v}
    for name in ("since", "until"):
        if getattr(f, name):
            out[name] = getattr(f, name).isoformat()
    return {"layer": "reports", **out}


__all__ = ["export_reports", "reports_frame"]
