"""``netkort points``: what coverage is at each point of a CSV or Parquet file.

    netkort points businesses.csv -o answers.csv                       # lon/lat columns found
    netkort points sites.parquet -o out.parquet --x-col east --y-col north --rules 2025

Every input row comes back with its columns and the answer of :mod:`coverage.points`: the
municipality, the DDKN 100 m cell and its coverage summary, and the nearest address with its class.
A file whose coordinates are not numbers, or lie outside Denmark, is refused with the line numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from coverage.cli.common import AsJson, Home, Quiet, ReleaseArg, RichSteps, app, out, settings_from
from coverage.csvio import read_text_csv
from coverage.errors import InvalidRequestError, SourceError
from coverage.points import DEFAULT_DISTANCE, MAX_DISTANCE, POINT_COLUMNS, PointIndex
from coverage.points import work_coordinates as to_work
from coverage.release import ReleaseStore
from coverage.types import WEB_CRS, WORK_CRS

#: Column pairs tried, in order, when none is named: (x, y, CRS).
GUESSES = (
    ("lon", "lat", WEB_CRS),
    ("longitude", "latitude", WEB_CRS),
    ("lng", "lat", WEB_CRS),
    ("wgs84koordinat_længde", "wgs84koordinat_bredde", WEB_CRS),
    ("east", "north", WORK_CRS),
    ("etrs89koordinat_øst", "etrs89koordinat_nord", WORK_CRS),
    ("x", "y", WORK_CRS),
)
OUTPUT_FORMATS = (".csv", ".parquet")
_CSV_SUFFIXES = (".csv", ".txt", ".tsv")


@dataclass
class PointsInput:
    """Rows of a points file, their coordinates, the CRS and each row's line (or row) number."""

    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    crs: str
    labels: np.ndarray
    label: str


@app.command("points")
def points_command(
    source: Annotated[Path, typer.Argument(help="Points as CSV or Parquet (GeoParquet too).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Answer file: .csv or .parquet.")],
    lon_col: Annotated[
        str | None, typer.Option("--lon-col", help="Longitude column (WGS84).")
    ] = None,
    lat_col: Annotated[
        str | None, typer.Option("--lat-col", help="Latitude column (WGS84).")
    ] = None,
    x_col: Annotated[
        str | None, typer.Option("--x-col", help="East column (EPSG:25832, m).")
    ] = None,
    y_col: Annotated[
        str | None, typer.Option("--y-col", help="North column (EPSG:25832, m).")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules", help="Rule set: a year (2025) or an id (2024-2025); default newest."
        ),
    ] = None,
    max_distance: Annotated[
        float,
        typer.Option(
            "--max-distance", min=0, max=MAX_DISTANCE, help="Nearest-address radius, metres."
        ),
    ] = DEFAULT_DISTANCE,
    release: ReleaseArg = "current",
    home: Home = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Answer, for every point of a file: municipality, DDKN cell, cell coverage, nearest address."""
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InvalidRequestError(
            f"--output {output}: expected a file ending in {' or '.join(OUTPUT_FORMATS)}"
        )
    started = time.perf_counter()
    steps = RichSteps(quiet or as_json)
    with steps.step(f"Reading {source}"):
        points = read_points(source, lon_col=lon_col, lat_col=lat_col, x_col=x_col, y_col=y_col)
        east, north = to_work(
            points.x, points.y, points.crs, labels=points.labels, label=points.label
        )
    opened = ReleaseStore(settings_from(home).home).open(release)
    with steps.step(f"Indexing release {opened.id}"):
        index = PointIndex.from_release(opened, [rules or "latest"])
    with steps.step(f"Answering {len(east):,} points"):
        answer = index.query(east, north, max_distance=max_distance)
    frame = _joined(points.frame, answer)
    with steps.step(f"Writing {output}"):
        _write(frame, output)
    generated = bool(answer["generated"].any()) or opened.generated
    summary = {
        "release_id": opened.id,
        "rule_set": str(answer["rule_set"].iloc[0]) if len(answer) else index.default_rules,
        "points": len(answer),
        "in_municipality": int(answer["kommunekode"].notna().sum()),
        "with_addresses_in_cell": int((answer["cell_addresses"] > 0).sum()),
        "with_nearest_address": int(answer["nearest_id"].notna().sum()),
        "max_distance_m": max_distance,
        "output": str(output),
        "generated": generated,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    if quiet:
        return
    out.print(
        f"{summary['points']:,} points under {summary['rule_set']}: {summary['in_municipality']:,} "
        f"in a municipality, {summary['with_nearest_address']:,} with an address within "
        f"{max_distance:g} m; wrote {output}"
    )
    if generated:
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")


def read_points(
    path: Path,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
) -> PointsInput:
    """Read a CSV or (Geo)Parquet file of points; columns as named, else guessed (:data:`GUESSES`).

    A GeoParquet file without named columns answers for its point geometries in its own CRS.
    """
    if (lon_col is None) != (lat_col is None) or (x_col is None) != (y_col is None):
        raise InvalidRequestError("give --lon-col with --lat-col, or --x-col with --y-col")
    if lon_col is not None and x_col is not None:
        raise InvalidRequestError("give either --lon-col/--lat-col or --x-col/--y-col, not both")
    named = (lon_col, lat_col, WEB_CRS) if lon_col else (x_col, y_col, WORK_CRS) if x_col else None
    if not path.exists():
        raise SourceError(path, "points file not found")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, named)
    if path.suffix.lower() not in _CSV_SUFFIXES:
        raise SourceError(path, "expected a .csv or .parquet file of points")
    table = read_text_csv(path, what="points file")
    if table.bad_lines:
        line, reason = table.bad_lines[0]
        raise SourceError(path, f"line {line}: {reason}")
    xc, yc, crs = _columns(path, list(table.frame.columns), named)
    x = _numbers(path, table.frame[xc], table.lines, xc)
    y = _numbers(path, table.frame[yc], table.lines, yc)
    return PointsInput(table.frame, x, y, crs, table.lines, f"{path.name} line {{}}")


def _read_parquet(path: Path, named: tuple[str | None, str | None, str] | None) -> PointsInput:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise SourceError(path, f"cannot be read as Parquet: {exc}") from None
    if named is None and schema.metadata and b"geo" in schema.metadata:
        frame = gpd.read_parquet(path)
        if frame.crs is None:
            raise SourceError(path, "GeoParquet without a CRS: name the coordinate columns")
        geoms = frame.geometry.array
        is_point = np.asarray(frame.geometry.geom_type == "Point")
        if not is_point.all():
            bad = int(np.flatnonzero(~is_point)[0])
            raise SourceError(path, f"row {bad}: geometry is not a point ({geoms[bad].geom_type})")
        crs = frame.crs.to_string()
        plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        rows = np.arange(len(frame))
        return PointsInput(plain, geoms.x, geoms.y, crs, rows, f"{path.name} row {{}}")
    frame = pd.read_parquet(path)
    xc, yc, crs = _columns(path, list(frame.columns), named)
    rows = np.arange(len(frame))
    x = _numbers(path, frame[xc], rows, xc)
    y = _numbers(path, frame[yc], rows, yc)
    return PointsInput(frame, x, y, crs, rows, f"{path.name} row {{}}")


def _columns(
    path: Path, columns: list[str], named: tuple[str | None, str | None, str] | None
) -> tuple[str, str, str]:
    """The coordinate columns and their CRS: as named, or the first pair of :data:`GUESSES`."""
    if named is not None:
        missing = [c for c in named[:2] if c not in columns]
        if missing:
            raise SourceError(
                path, f"no column {missing[0]!r}; columns are {', '.join(map(str, columns))}"
            )
        return str(named[0]), str(named[1]), named[2]
    lower = {str(c).casefold(): str(c) for c in columns}
    for x, y, crs in GUESSES:
        if x in lower and y in lower:
            return lower[x], lower[y], crs
    raise SourceError(
        path,
        f"no coordinate columns found among {', '.join(map(str, columns))}: name them with "
        "--lon-col/--lat-col (WGS84 degrees) or --x-col/--y-col (EPSG:25832 metres)",
    )


def _numbers(path: Path, values: pd.Series, labels: np.ndarray, column: str) -> np.ndarray:
    """A coordinate column as floats; a decimal comma is accepted; anything else names its line."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(np.float64, na_value=np.nan)
    else:
        text = pa.array(values.astype("string").fillna(""), pa.string())
        text = pc.replace_substring(pc.utf8_trim_whitespace(text), ",", ".")
        numbers = pd.to_numeric(pd.Series(text.to_pandas()), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        shown = ", ".join(f"{labels[i]} ({values.iloc[i]!r})" for i in bad[:3])
        raise SourceError(
            path,
            f"column {column!r}: {len(bad)} value(s) are not numbers, e.g. at "
            f"{'line' if path.suffix.lower() != '.parquet' else 'row'} {shown}; expected a "
            "coordinate such as 10.2 or 10,2",
        )
    return numbers


def _joined(frame: pd.DataFrame, answer: pd.DataFrame) -> pd.DataFrame:
    """Input columns, then the answer's; an input column named like an answer column is kept as
    ``<name>_input``."""
    renamed = {c: f"{c}_input" for c in frame.columns if c in POINT_COLUMNS}
    left = frame.rename(columns=renamed).reset_index(drop=True)
    return pd.concat([left, answer], axis=1)


def _write(frame: pd.DataFrame, path: Path) -> None:
    """CSV (UTF-8, header) or Parquet, written through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, tmp)
    else:
        plain = pa.schema(
            [
                f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f
                for f in table.schema
            ]
        )
        pacsv.write_csv(table.cast(plain), tmp)
    tmp.replace(path)


__all__ = ["PointsInput", "points_command", "read_points"]
