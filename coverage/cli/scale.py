"""``netkort scale``: the heavy stages on a chosen engine, written to any export format.

    netkort scale assess -o addresses.gpkg --engine dask --scheduler tcp://scheduler-host:8786
    netkort scale zones -o zones.parquet --engine dask --workers 4 --mobile-below 100
    netkort scale aggregate measurements/ -o cells.gpkg --engine dask --size 1000

``--engine local`` (the default) runs in this process; ``--engine dask`` runs on the scheduler
given by ``--scheduler`` or on a LocalCluster of ``--workers`` processes on 127.0.0.1. Both give
identical files. See ``docs/dask.md`` for a real cluster.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from coverage.cli.common import AsJson, Home, Quiet, ReleaseArg, RichSteps, app, out, settings_from
from coverage.engine import ENGINES, Engine, measurement_files, open_engine
from coverage.errors import InvalidRequestError
from coverage.export import (
    FORMATS,
    ExportMetadata,
    address_layer,
    export,
    format_from_path,
    resolve_municipalities,
)
from coverage.release import Release, ReleaseStore
from coverage.rules import get_rule_set, resolve_rule_sets

__all__ = ["app", "cluster_ran", "scale_app"]

scale_app = typer.Typer(
    help="Heavy stages (assessment, zones, measurement aggregates) on the local or a Dask engine.",
    no_args_is_help=True,
)
app.add_typer(scale_app, name="scale")

EngineName = Annotated[
    str,
    typer.Option("--engine", help=f"Where to run: {' or '.join(ENGINES)} (identical results)."),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler: tcp://HOST:PORT or a scheduler JSON file (default: a local cluster).",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Workers of the local Dask cluster (default 2)."),
]
Partitions = Annotated[
    int | None,
    typer.Option("--partitions", min=1, help="Partitions per Dask shuffle (default 2 per worker)."),
]
Output = Annotated[Path, typer.Option("--output", "-o", help="Output file.")]
Format = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help=f"{', '.join(FORMATS)} (default: from the output's suffix)."
    ),
]
Municipality = Annotated[
    list[str] | None,
    typer.Option("--municipality", "-m", help="Municipality code (0741) or name; repeatable."),
]


@scale_app.command("assess")
def assess_command(
    output: Output,
    rules: Annotated[
        list[str] | None,
        typer.Option("--rules", help="Rule set (year or id); repeatable. Default: the newest."),
    ] = None,
    municipality: Municipality = None,
    zones: Annotated[
        Path | None,
        typer.Option("--zones", help="Planning zone layer (GeoPackage, GeoJSON or Shapefile)."),
    ] = None,
    zone_field: Annotated[
        str | None, typer.Option("--zone-field", help="Field of --zones naming the zone.")
    ] = None,
    fmt: Format = None,
    engine: EngineName = "local",
    scheduler: Scheduler = None,
    workers: Workers = None,
    partitions: Partitions = None,
    release: ReleaseArg = "current",
    home: Home = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Assess every address under one or more rule sets; one address layer per rule set."""
    fmt = _format(output, fmt)
    rule_sets = resolve_rule_sets(rules) if rules else [get_rule_set(None)]
    opened = _open(home, release)
    steps = RichSteps(quiet or as_json)
    with _engine(steps, engine, scheduler, workers, partitions) as running:
        with steps.step(
            f"Assessing release {opened.id} under {', '.join(r.id for r in rule_sets)}"
        ):
            started = time.perf_counter()
            assessments = running.assess(
                opened,
                rule_sets,
                municipalities=municipality,
                zone_layer=zones,
                zone_field=zone_field,
            )
            seconds = time.perf_counter() - started
    addresses = opened.read("addresses")
    codes = resolve_municipalities(opened.read("municipalities"), municipality)
    if codes is not None:
        addresses = addresses[addresses["kommunekode"].isin(codes)].reset_index(drop=True)
    every = np.ones(len(addresses), dtype=bool)
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        f"addresses_{rule_id}": address_layer(addresses, assessment, every)
        for rule_id, assessment in assessments.items()
    }
    one = rule_sets[0] if len(rule_sets) == 1 else None
    filters: dict[str, Any] = {
        "municipalities": list(municipality or []),
        "rule_sets": [r.id for r in rule_sets],
    }
    if zones is not None:
        filters["zone_layer"] = zones.name
    metadata = ExportMetadata.for_release(opened, rule_set=one, filters=filters)
    _finish(steps, layers, fmt, output, metadata, running, seconds, as_json, quiet)


@scale_app.command("zones")
def zones_command(
    output: Output,
    rules: Annotated[
        str, typer.Option("--rules", help="Rule set: a year (2025), an id (2024-2025) or 'latest'.")
    ] = "latest",
    fixed_below: Annotated[
        str | None,
        typer.Option("--fixed-below", help="Select by best fixed speed: DOWN/UP or DOWN."),
    ] = None,
    mobile_below: Annotated[
        float | None,
        typer.Option("--mobile-below", help="Select by mobile download below this (Mbit/s)."),
    ] = None,
    distance: Annotated[
        float,
        typer.Option("--distance", help="Join cells whose addresses are this close (m); 0: edges."),
    ] = 200.0,
    municipality: Municipality = None,
    fmt: Format = None,
    engine: EngineName = "local",
    scheduler: Scheduler = None,
    workers: Workers = None,
    partitions: Partitions = None,
    release: ReleaseArg = "current",
    home: Home = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Underserved zones on the DDKN grid per municipality (as ``netkort zones``), written out."""
    fmt = _format(output, fmt)
    if not math.isfinite(distance) or distance < 0:
        raise InvalidRequestError(f"--distance {distance} must be 0 or a positive number of metres")
    rule_set = get_rule_set(rules)
    opened = _open(home, release)
    steps = RichSteps(quiet or as_json)
    with _engine(steps, engine, scheduler, workers, partitions) as running:
        with steps.step(f"Zones in release {opened.id}"):
            started = time.perf_counter()
            zones = running.zones(
                opened,
                rule_set,
                municipalities=municipality,
                fixed_below=fixed_below,
                mobile_below=mobile_below,
                join_distance=distance or None,
            )
            seconds = time.perf_counter() - started
    filters = {
        "what": "zones",
        "municipalities": list(municipality or []),
        "fixed_below": fixed_below,
        "mobile_below": mobile_below,
        "join_distance_m": distance,
    }
    metadata = ExportMetadata.for_release(opened, rule_set=rule_set, filters=filters)
    zones.attrs["geometry_type"] = "MultiPolygon"
    _finish(steps, {"zones": zones}, fmt, output, metadata, running, seconds, as_json, quiet)


@scale_app.command("aggregate")
def aggregate_command(
    measurements: Annotated[
        Path,
        typer.Argument(help="Measurement file (CSV or GeoParquet), or a folder of them."),
    ],
    output: Output,
    size: Annotated[int, typer.Option("--size", help="Cell size in metres: 100 or 1000.")] = 100,
    threshold: Annotated[
        float, typer.Option("--threshold", help="RSRP threshold for the share, dBm.")
    ] = -110.0,
    fmt: Format = None,
    engine: EngineName = "local",
    scheduler: Scheduler = None,
    workers: Workers = None,
    partitions: Partitions = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Measurements per DDKN cell × operator × technology; groups under 5 samples or 3 devices
    are withheld and only counted."""
    fmt = _format(output, fmt)
    if size not in (100, 1000):
        raise InvalidRequestError(f"--size must be 100 or 1000, got {size}")
    files = measurement_files(measurements)
    steps = RichSteps(quiet or as_json)
    with _engine(steps, engine, scheduler, workers, partitions) as running:
        with steps.step(f"Aggregating {len(files)} measurement file(s) on {size} m cells"):
            started = time.perf_counter()
            cells = running.aggregate(files, size=size, threshold_rsrp=threshold)
            seconds = time.perf_counter() - started
    layer = cells.geodataframe()
    layer.attrs["geometry_type"] = "Polygon"
    metadata = ExportMetadata(
        release_id="",  # measurements are not part of a release
        sources=tuple({"kind": "measurements", "file": f.name} for f in files),
        filters={
            "size_m": size,
            "threshold_rsrp_dbm": threshold,
            "withheld_groups": cells.withheld,
            "withheld_samples": cells.withheld_samples,
        },
    )
    _finish(
        steps,
        {f"cells_{size}m": layer},
        fmt,
        output,
        metadata,
        running,
        seconds,
        as_json,
        quiet,
        extra={"withheld": cells.withheld, "withheld_samples": cells.withheld_samples},
    )


#: LocalClusters this process started (see :func:`cluster_ran`).
_RAN: list[str] = []


def cluster_ran() -> bool:
    """Whether a command of this process started its own Dask LocalCluster
    (``coverage.cli.main`` then exits without interpreter finalizers)."""
    return bool(_RAN)


@contextmanager
def _engine(
    steps: RichSteps,
    name: str,
    scheduler: str | None,
    workers: int | None,
    partitions: int | None,
) -> Iterator[Engine]:
    """The engine, started under a progress step and closed when the block ends."""
    if name == "dask" and scheduler is None:
        _RAN.append(name)  # this process starts (and owns) a LocalCluster
    with ExitStack() as stack:
        with steps.step(f"Starting the {name} engine"):
            running = stack.enter_context(
                open_engine(name, scheduler=scheduler, workers=workers, partitions=partitions)
            )
        yield running


def _finish(
    steps: RichSteps,
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame],
    fmt: str,
    output: Path,
    metadata: ExportMetadata,
    engine: Engine,
    seconds: float,
    as_json: bool,
    quiet: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    with steps.step(f"Writing {fmt} to {output}"):
        files = export(layers, fmt, output, metadata)
    summary = {
        "engine": engine.name,
        "seconds": round(seconds, 3),
        "format": fmt,
        "files": [str(f) for f in files],
        "layers": {name: len(frame) for name, frame in layers.items()},
        "release_id": metadata.release_id or None,
        "rule_set": metadata.rule_set_id,
        **(extra or {}),
    }
    generated = any(
        "generated" in f.columns and bool(f["generated"].fillna(False).astype(bool).any())
        for f in layers.values()
    )
    summary["generated"] = metadata.generated or generated
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    if quiet:
        return
    table = Table(title=f"Computed on the {engine.name} engine in {seconds:.1f} s", min_width=40)
    table.add_column("layer")
    table.add_column("rows", justify="right")
    for name, frame in layers.items():
        table.add_row(name, f"{len(frame):,}")
    out.print(table)
    for f in files:
        out.print(f"  wrote {f}")
    if summary["generated"]:
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")


def _format(output: Path, fmt: str | None) -> str:
    fmt = (fmt or format_from_path(output)).lower()
    if fmt not in FORMATS:
        raise InvalidRequestError(f"unknown --format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt


def _open(home: Path | None, release: str) -> Release:
    return ReleaseStore(settings_from(home).home).open(release)
