"""``netkort`` commands: zones and export (underserved zones, export files)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import shapely
import typer
from rich.table import Table

from coverage.cli.common import AsJson, Home, Quiet, ReleaseArg, RichSteps, app, out, settings_from
from coverage.errors import InvalidRequestError
from coverage.export import FORMATS, WHAT, ExportMetadata, build_layers, export, format_from_path
from coverage.release import Release, ReleaseStore
from coverage.types import WEB_CRS

Rules = Annotated[
    str,
    typer.Option("--rules", help="Rule set: a year (2025), an id (2024-2025) or 'latest'."),
]
Municipality = Annotated[
    list[str] | None,
    typer.Option(
        "--municipality", "-m", help="Municipality code (0741) or name; repeat for several."
    ),
]
FixedBelow = Annotated[
    str | None,
    typer.Option(
        "--fixed-below",
        help="Select by best fixed speed: DOWN/UP ('100/30': below either) or DOWN ('100').",
    ),
]
MobileBelow = Annotated[
    float | None,
    typer.Option("--mobile-below", help="Select by mobile download below this (Mbit/s)."),
]
Distance = Annotated[
    float,
    typer.Option(
        "--distance",
        help="Join zone cells whose addresses are this close (metres); 0 joins edge neighbours only.",
    ),
]


@app.command("export")
def export_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file.")],
    what: Annotated[
        str, typer.Option("--what", help=f"What to export: {', '.join(WHAT)}.")
    ] = "eligible-addresses",
    rules: Rules = "latest",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help=f"{', '.join(FORMATS)} (default: from the output's suffix)."
        ),
    ] = None,
    municipality: Municipality = None,
    fixed_below: FixedBelow = None,
    mobile_below: MobileBelow = None,
    distance: Distance = 200.0,
    release: ReleaseArg = "current",
    home: Home = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Export eligible addresses, all addresses, zones or grid statistics in a GIS format."""
    if what not in WHAT:
        raise InvalidRequestError(f"unknown --what {what!r}; choose one of {', '.join(WHAT)}")
    fmt = (fmt or format_from_path(output)).lower()
    if fmt not in FORMATS:
        raise InvalidRequestError(f"unknown --format {fmt!r}; formats: {', '.join(FORMATS)}")
    steps = RichSteps(quiet or as_json)
    opened = _open(home, release)
    with steps.step(f"Assessing release {opened.id} under rule set {rules}"):
        layers, rule_set = _layers(
            opened, what, rules, municipality, fixed_below, mobile_below, distance
        )
    filters = _filters(what, municipality, fixed_below, mobile_below, distance)
    metadata = ExportMetadata.for_release(opened, rule_set=rule_set, filters=filters)
    with steps.step(f"Writing {fmt} to {output}"):
        files = export(layers, fmt, output, metadata)
    generated = metadata.generated or any(
        "generated" in f.columns and bool(f["generated"].fillna(False).astype(bool).any())
        for f in layers.values()
    )
    if as_json:
        result = {
            "release_id": opened.id,
            "rule_set": rule_set.id,
            "format": fmt,
            "files": [str(f) for f in files],
            "layers": {name: len(frame) for name, frame in layers.items()},
            "generated": generated,
            "filters": filters,
        }
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    if quiet:
        return
    table = Table(title=f"Export of release {opened.id}, rule set {rule_set.id}")
    table.add_column("layer")
    table.add_column("rows", justify="right")
    for name, frame in layers.items():
        table.add_row(name, str(len(frame)))
    out.print(table)
    for f in files:
        out.print(f"  wrote {f}")
    if generated:
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")


@app.command("zones")
def zones_command(
    rules: Rules = "latest",
    fixed_below: FixedBelow = None,
    mobile_below: MobileBelow = None,
    distance: Distance = 200.0,
    municipality: Municipality = None,
    release: ReleaseArg = "current",
    home: Home = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Underserved zones: eligible addresses (or those under --fixed-below / --mobile-below)
    merged on the DDKN 100 m grid, per municipality."""
    opened = _open(home, release)
    with RichSteps(quiet or as_json).step(f"Zones in release {opened.id}"):
        layers, rule_set = _layers(
            opened, "zones", rules, municipality, fixed_below, mobile_below, distance
        )
    zones = layers["zones"]
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "release_id": opened.id,
                    "rule_set": rule_set.id,
                    "filters": _filters("zones", municipality, fixed_below, mobile_below, distance),
                    "zones": _zone_records(zones),
                },
                ensure_ascii=False,
            )
        )
        return
    label = zones["label"].iloc[0] if len(zones) else rule_set.id
    table = Table(title=f"Underserved zones ({label}), release {opened.id}")
    headers = {
        "zone_id": "zone",
        "kommunenavn": "municipality",
        "addresses": "addr.",
        "eligible": "elig.",
        "eligible_if_zone": "if zone",
        "unknown_zone": "zone ?",
        "min_fixed_down": "min ↓",
        "median_fixed_down": "median ↓",
        "median_mobile_down": "mobile ↓",
        "area_km2": "km²",
    }
    widest = int(zones["zone_id"].str.len().max()) if len(zones) else 4
    for column, header in headers.items():
        if column == "zone_id":  # the id is what a planner copies: never cut it
            table.add_column(header, no_wrap=True, min_width=widest)
        else:
            table.add_column(header, justify="left" if column == "kommunenavn" else "right")
    for row in zones.drop(columns="geometry").to_dict("records"):
        table.add_row(*(_cell(row[c]) for c in headers))
    out.print(table)
    out.print(
        f"{len(zones)} zones, {int(zones['addresses'].sum()) if len(zones) else 0} addresses."
    )
    if len(zones) and bool(zones["generated"].any()):
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")


def _open(home: Path | None, release: str) -> Release:
    return ReleaseStore(settings_from(home).home).open(release)


def _layers(
    release: Release,
    what: str,
    rules: str,
    municipality: list[str] | None,
    fixed_below: str | None,
    mobile_below: float | None,
    distance: float,
) -> tuple[dict[str, Any], Any]:
    from coverage.rules import get_rule_set

    if not math.isfinite(distance) or distance < 0:
        raise InvalidRequestError(f"--distance {distance} must be 0 or a positive number of metres")
    rule_set = get_rule_set(rules)
    layers = build_layers(
        release,
        what,
        rule_set,
        municipality,
        fixed_below,
        mobile_below,
        join_distance=distance or None,
    )
    return layers, rule_set


def _filters(
    what: str,
    municipality: list[str] | None,
    fixed_below: str | None,
    mobile_below: float | None,
    distance: float,
) -> dict[str, Any]:
    return {
        "what": what,
        "municipalities": list(municipality or []),
        "fixed_below": fixed_below,
        "mobile_below": mobile_below,
        "join_distance_m": distance,
    }


def _zone_records(zones: Any) -> list[dict[str, Any]]:
    """Zones as JSON records: every attribute, plus the centroid and bounds in lon/lat."""
    lonlat = zones.geometry.to_crs(WEB_CRS).to_numpy() if len(zones) else []
    records = []
    for row, geom in zip(zones.drop(columns="geometry").to_dict("records"), lonlat, strict=True):
        record = {k: _plain(v) for k, v in row.items()}
        centroid = shapely.centroid(geom)
        record["centroid"] = [round(centroid.x, 6), round(centroid.y, 6)]
        record["bbox"] = [round(v, 6) for v in shapely.bounds(geom).tolist()]
        records.append(record)
    return records


def _plain(value: Any) -> Any:
    """NaN and <NA> become null; numpy scalars become Python numbers."""
    try:
        if value is None or value != value:
            return None
    except TypeError:  # pandas.NA refuses comparison in a boolean context
        return None
    return value.item() if hasattr(value, "item") else value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if value < 1 else f"{value:,.0f}"
    return str(value)


__all__ = ["app"]
