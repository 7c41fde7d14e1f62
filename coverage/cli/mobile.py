"""``netkort mobile``: measurements, sites, the propagation model, fusion per address, gap zones.

Each command reads files or the current release and writes files; none of them changes a release.
``netkort mobile model`` writes the rasters and a ``layers.json`` into a folder that the ``fuse``,
``gaps`` and ``synth`` commands take with ``--layers``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import pandas as pd
import typer
from rich.table import Table

from coverage.cli.common import AsJson, Home, Quiet, RichSteps, app, out, settings_from
from coverage.errors import InvalidRequestError, NotFoundError, SourceError
from coverage.mobile.aggregate import aggregate
from coverage.mobile.colours import COLOUR_MAPS, colour_map
from coverage.mobile.fusion import agreement, confusion_matrix, fuse, gap_flag_layer
from coverage.mobile.gaps import gap_zones
from coverage.mobile.measurements import read_measurements, write_measurements
from coverage.mobile.model import load_layers, model_rasters
from coverage.mobile.sites import read_sites
from coverage.mobile.synth import read_roads, synth_measurements
from coverage.quarantine import Quarantine
from coverage.release import Release, ReleaseStore
from coverage.settings import Settings
from coverage.sources import load_manifest
from coverage.types import WEB_CRS

__all__ = ["app", "mobile_app"]

mobile_app = typer.Typer(
    help="Mobile coverage: measurements, sites, propagation model rasters, fusion, gap zones.",
    no_args_is_help=True,
)
app.add_typer(mobile_app, name="mobile")

Layers = Annotated[Path, typer.Option("--layers", help="Folder written by `netkort mobile model`.")]
Output = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write here (.gpkg, .geojson, .fgb, .parquet or .csv)."),
]
ReleaseOpt = Annotated[str, typer.Option("--release", help="Release id (default: current).")]
Measurements = Annotated[
    Path | None,
    typer.Option("--measurements", help="Measurement file (CSV or GeoParquet)."),
]


def _release(home: Path | None, release: str) -> tuple[Settings, Release]:
    settings = settings_from(home)
    return settings, ReleaseStore(settings.home).open(release)


def _manifest_file(settings: Settings, kind: str) -> Path:
    """The first file of a kind in the default source manifest (sites, osm)."""
    files = load_manifest(None, settings.data).of(kind)
    if not files:
        raise SourceError(settings.data, f"no [[{kind}]] file in the source manifest: pass one")
    return files[0].path


def _write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table by its file name: GeoPackage, GeoJSON (lon/lat), FlatGeobuf, Parquet, CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    plain = frame.copy()
    for col in plain.columns:
        if isinstance(plain[col].dtype, pd.CategoricalDtype):
            plain[col] = plain[col].astype("string")
    if suffix == ".parquet":
        plain.to_parquet(path, index=False)
    elif suffix == ".csv":
        pd.DataFrame(plain.drop(columns="geometry", errors="ignore")).to_csv(
            path, index=False, encoding="utf-8-sig"
        )
    elif suffix in (".gpkg", ".geojson", ".fgb", ".shp"):
        if not isinstance(plain, gpd.GeoDataFrame):
            raise InvalidRequestError(f"{path.name}: this table has no geometry; write .csv")
        if suffix == ".geojson":
            plain = plain.to_crs(WEB_CRS)
        plain.to_file(path, engine="pyogrio")
    else:
        raise InvalidRequestError(
            f"{path.name}: unknown output format {suffix or '(none)'}; "
            "expected .gpkg, .geojson, .fgb, .shp, .parquet or .csv"
        )
    return path


def _quarantine_summary(quarantine: Quarantine) -> list[dict[str, Any]]:
    frame = quarantine.frame()
    return [{k: str(v) for k, v in row.items()} for row in frame.to_dict("records")]


@mobile_app.command("sites")
def sites_command(
    path: Annotated[Path | None, typer.Argument(help="Site CSV (default: the manifest's).")] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="generic or osm-masts (default: detect).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Read a site file and show what the model would use."""
    settings = settings_from()
    path = path or _manifest_file(settings, "sites")
    quarantine = Quarantine()
    sites = read_sites(path, quarantine, profile=profile)
    mobile = sites[sites["mobile"]]
    summary = {
        "file": str(path),
        "rows": len(sites) + quarantine.rejected_lines("sites"),
        "sites": len(sites),
        "mobile": len(mobile),
        "operators": mobile["operator"].value_counts().to_dict(),
        "quarantined": _quarantine_summary(quarantine),
    }
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"Sites in {path.name}")
    for col in ("site", "operator", "technologies", "height m", "mobile"):
        table.add_column(col)
    for row in sites.itertuples():
        table.add_row(
            str(row.site_id),
            str(row.operator),
            str(row.technologies),
            f"{row.height_m:g}",
            "yes" if row.mobile else "no",
        )
    out.print(table)
    out.print(f"{len(mobile)} mobile sites, {len(quarantine.frame())} quarantine entries.")


@mobile_app.command("measurements")
def measurements_command(
    path: Annotated[Path, typer.Argument(help="Measurement file (CSV or GeoParquet).")],
    quarantine_out: Annotated[
        Path | None, typer.Option("--quarantine", help="Write refused rows to this CSV.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Validate a measurement file: accepted rows, and every refused row with its reason."""
    quarantine = Quarantine()
    frame = read_measurements(path, quarantine)
    refused = quarantine.frame()
    if quarantine_out is not None:
        refused.to_csv(quarantine_out, index=False, encoding="utf-8-sig")
    reasons = refused.groupby(["field", "reason"]).size().reset_index(name="rows")
    summary = {
        "file": str(path),
        "accepted": len(frame),
        "refused_lines": quarantine.rejected_lines("measurements"),
        "generated": int(frame["generated"].sum()),
        "reasons": reasons.to_dict("records"),
    }
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    out.print(f"{summary['accepted']} rows accepted, {summary['refused_lines']} lines refused.")
    for r in summary["reasons"]:
        out.print(f"  {r['rows']:>6}  {r['field']}: {r['reason']}")


@mobile_app.command("aggregate")
def aggregate_command(
    path: Annotated[Path, typer.Argument(help="Measurement file (CSV or GeoParquet).")],
    size: Annotated[int, typer.Option("--size", help="Cell size in metres: 100 or 1000.")] = 100,
    threshold: Annotated[
        float, typer.Option("--threshold", help="RSRP threshold for the share, dBm.")
    ] = -110.0,
    output: Output = None,
    as_json: AsJson = False,
) -> None:
    """Aggregate measurements per DDKN cell × operator × technology (small cells withheld)."""
    if size not in (100, 1000):
        raise InvalidRequestError(f"--size must be 100 or 1000, got {size}")
    cells = aggregate(read_measurements(path, Quarantine()), size, threshold)
    if output is not None:
        frame = cells.geodataframe() if output.suffix.lower() != ".csv" else cells.cells
        _write_frame(frame, output)
    summary = {
        "size": size,
        "published": len(cells.cells),
        "withheld": cells.withheld,
        "withheld_samples": cells.withheld_samples,
        "out": str(output) if output else None,
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"{summary['published']} cell groups published, {cells.withheld} withheld for privacy "
        f"({cells.withheld_samples} samples)."
    )


@mobile_app.command("model")
def model_command(
    sites: Annotated[Path | None, typer.Option("--sites", help="Site CSV.")] = None,
    osm: Annotated[
        Path | None, typer.Option("--osm", help="OpenStreetMap extract for clutter.")
    ] = None,
    no_clutter: Annotated[
        bool, typer.Option("--no-clutter", help="Model without clutter.")
    ] = False,
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="Model one municipality (e.g. 0741).")
    ] = None,
    resolution: Annotated[float, typer.Option("--resolution", help="Pixel size, m.")] = 50.0,
    indoor_loss: Annotated[
        float | None, typer.Option("--indoor-loss", help="Building penetration loss, dB.")
    ] = None,
    measurements: Measurements = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder for the rasters.")] = Path(
        "out/mobile"
    ),
    home: Home = None,
    release: ReleaseOpt = "current",
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Predict RSRP per operator × technology (outdoor and indoor) as Cloud-Optimised GeoTIFFs."""
    settings, rel = _release(home, release)
    if municipality:
        munis = rel.read("municipalities")
        chosen = munis[munis["kommunekode"] == municipality.zfill(4)]
        if chosen.empty:
            raise NotFoundError(
                f"no municipality {municipality} in release {rel.id}",
                [{"kommunekode": k} for k in munis["kommunekode"]],
            )
        outline = chosen.geometry.iloc[0]
    else:
        outline = rel.read("region").geometry.iloc[0]
    quarantine = Quarantine()
    site_table = read_sites(sites or _manifest_file(settings, "sites"), quarantine)
    clutter = None if no_clutter else (osm or _manifest_file(settings, "osm"))
    measured = read_measurements(measurements, quarantine) if measurements else None
    layers = model_rasters(
        site_table,
        outline,
        output,
        resolution,
        clutter,
        indoor_loss_db=indoor_loss,
        measurements=measured,
        reporter=RichSteps(quiet or as_json),
    )
    rows = [layer.to_dict() for layer in layers]
    if as_json:
        out.print_json(json.dumps({"layers": rows}, ensure_ascii=False, default=str))
        return
    if quiet:
        return
    table = Table(title=f"Model layers in {output}")
    for col in ("layer", "sites", "calibration (held-out RMSE before → after)"):
        table.add_column(col)
    for layer in layers:
        cal = layer.calibration
        text = (
            f"{cal.offset_db:+.1f} dB, {cal.before.rmse:.1f} → {cal.after.rmse:.1f} dB"
            if cal
            else "uncalibrated"
        )
        table.add_row(layer.name, str(layer.sites), text)
    out.print(table)


@mobile_app.command("synth")
def synth_command(
    layers: Layers,
    output: Annotated[Path, typer.Option("--out", "-o", help="Measurement file to write.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    drives: Annotated[int, typer.Option("--drives", help="Drive tests along roads.")] = 10,
    crowd: Annotated[int, typer.Option("--crowd", help="Crowd tests at addresses.")] = 2000,
    osm: Annotated[Path | None, typer.Option("--osm", help="OpenStreetMap roads.")] = None,
    home: Home = None,
    release: ReleaseOpt = "current",
    as_json: AsJson = False,
) -> None:
    """Generate measurements from the model (drive routes, crowd tests); all flagged generated."""
    settings, rel = _release(home, release)
    roads = read_roads(osm or _manifest_file(settings, "osm")) if drives > 0 else None
    addresses = rel.read("addresses") if crowd > 0 else None
    frame = synth_measurements(
        load_layers(layers),
        seed,
        roads=roads,
        addresses=addresses,
        drives=drives,
        crowd=crowd,
        end=datetime.now(UTC),
    )
    write_measurements(frame, output)
    summary = {"out": str(output), "rows": len(frame), "seed": seed, "generated": True}
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(f"{len(frame)} GENERATED measurements written to {output}.")


@mobile_app.command("fuse")
def fuse_command(
    layers: Layers,
    measurements: Measurements = None,
    output: Output = None,
    flags: Annotated[
        Path | None, typer.Option("--flags", help="Write the gap-flag layer here.")
    ] = None,
    home: Home = None,
    release: ReleaseOpt = "current",
    as_json: AsJson = False,
) -> None:
    """Declared, measured and modelled mobile coverage per address; the confusion matrix."""
    _, rel = _release(home, release)
    cells = []
    if measurements is not None:
        measured = read_measurements(measurements, Quarantine())
        cells = [aggregate(measured, 100), aggregate(measured, 1000)]
    fused = fuse(rel.read("addresses"), rel.read("availability"), load_layers(layers), cells)
    if output is not None:
        _write_frame(fused, output)
    if flags is not None:
        _write_frame(gap_flag_layer(fused), flags)
    matrix = confusion_matrix(fused, "modelled")
    summary = {
        "addresses": len(fused),
        "confusion_modelled": matrix.to_dict(orient="index"),
        "agreement_modelled": round(agreement(matrix), 4),
        "flagged": int(fused["declared_vs_observed_gap"].sum()),
    }
    if measurements is not None:
        measured_matrix = confusion_matrix(fused, "measured")
        summary["confusion_measured"] = measured_matrix.to_dict(orient="index")
        summary["agreement_measured"] = round(agreement(measured_matrix), 4)
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title="Declared (rows) vs modelled (columns) mobile class, addresses")
    table.add_column("declared")
    for col in matrix.columns:
        table.add_column(str(col), justify="right")
    for label, row in matrix.iterrows():
        table.add_row(str(label), *(str(v) for v in row))
    out.print(table)
    out.print(f"Agreement {summary['agreement_modelled']:.1%}; {summary['flagged']} flagged.")


@mobile_app.command("gaps")
def gaps_command(
    layers: Layers,
    threshold: Annotated[float, typer.Option("--threshold", help="RSRP below this, dBm.")] = -110.0,
    environment: Annotated[
        str, typer.Option("--environment", help="outdoor or indoor.")
    ] = "outdoor",
    measurements: Measurements = None,
    threshold_down: Annotated[
        float, typer.Option("--threshold-down", help="Measured median below this, Mbit/s.")
    ] = 30.0,
    output: Output = None,
    home: Home = None,
    release: ReleaseOpt = "current",
    as_json: AsJson = False,
) -> None:
    """Mobile gap zones per operator and for every operator, clipped to municipalities."""
    _, rel = _release(home, release)
    cells = None
    if measurements is not None:
        cells = aggregate(read_measurements(measurements, Quarantine()), 100)
    zones = gap_zones(
        load_layers(layers),
        rel.read("municipalities"),
        threshold,
        environment=environment,
        aggregates=cells,
        threshold_down=threshold_down,
        addresses=rel.read("addresses"),
    )
    if output is not None:
        _write_frame(zones, output)
    rows = pd.DataFrame(zones.drop(columns="geometry")).to_dict("records")
    if as_json:
        out.print_json(json.dumps({"zones": rows}, ensure_ascii=False, default=str))
        return
    table = Table(title="Mobile gap zones")
    for col in ("basis", "operator", "municipality", "km²", "addresses"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["basis"], r["operator"], r["kommunenavn"], f"{r['area_km2']:.2f}", str(r["addresses"])
        )
    out.print(table)


@mobile_app.command("colours")
def colours_command(
    name: Annotated[str | None, typer.Argument(help="Colour map id (default: all).")] = None,
) -> None:
    """The layers' colour maps as JSON (bands, colours, labels): what tiles and legends use."""
    names = [name] if name else list(COLOUR_MAPS)
    maps = [colour_map(n) for n in names]
    payload = [{"id": m.id, "title": m.title, "units": m.units, "legend": m.legend()} for m in maps]
    out.print_json(json.dumps(payload, ensure_ascii=False))
