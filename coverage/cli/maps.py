"""``netkort map``: offline map pages (folium) and report figures (PNG) for a release.

The command computes with ``coverage`` (assessment under one rule set, statistics, underserved zones)
and hands the frames to ``maps`` to render; ``maps`` itself computes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from coverage.cli.common import AsJson, Home, Quiet, ReleaseArg, RichSteps, app, out, settings_from
from coverage.release import Release, ReleaseStore

__all__ = ["app"]


@app.command("map")
def map_command(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for index.html, the pages and figures/.")
    ],
    release: ReleaseArg = "current",
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="Rule set: a year (2025), an id (2024-2025) or 'latest'."),
    ] = None,
    municipality: Annotated[
        list[str] | None,
        typer.Option(
            "--municipality",
            "-m",
            help="Only pages for this municipality code (0741) or name; repeat for several.",
        ),
    ] = None,
    inline: Annotated[
        bool,
        typer.Option(
            "--inline", help="Inline the web assets: each page is one self-contained file."
        ),
    ] = False,
    mobile: Annotated[
        Path | None,
        typer.Option(
            "--mobile",
            help="Folder (or layers.json) of modelled mobile rasters; default: the release's own.",
        ),
    ] = None,
    quiet: Quiet = False,
    home: Home = None,
    as_json: AsJson = False,
) -> None:
    """Write map pages (region overview + one per municipality) and report figures for a release.

    Pages open from file:// with no network (web assets copied beside them, or --inline).

    A base map is optional: set NETKORT_BASEMAP_URL to a tile URL template (none by default).
    """
    from coverage.assess import assess_many
    from coverage.export import resolve_municipalities
    from coverage.rules import get_rule_set
    from coverage.stats import municipality_stats, read_release_tables
    from coverage.zones import eligible_mask, underserved_zones
    from maps.assets import MapSettings, PageAssets
    from maps.site import write_site
    from maps.style import PageInfo, StatColumns

    steps = RichSteps(quiet or as_json)
    opened = ReleaseStore(settings_from(home).home).open(release)
    rule_set = get_rule_set(rules)
    assets = PageAssets(mode="inline" if inline else "linked")
    basemap = MapSettings().basemap()

    municipalities = opened.read("municipalities")
    codes = resolve_municipalities(municipalities, municipality)  # a typo fails before the work
    with steps.step(f"Assessing release {opened.id} under the {rule_set.id} rules"):
        tables = read_release_tables(
            opened, geometry=True, address_columns=("vejnavn", "husnr", "postnr")
        )
        assessments = assess_many(tables.addresses, tables.availability, [rule_set])
        assessment = assessments[rule_set.id].reset_index(drop=True)
        addresses = tables.addresses.reset_index(drop=True)
        stats = municipality_stats(
            addresses,
            assessments,
            tables.availability,
            tables.municipalities,
            region_name=tables.region_name,
        )
    with steps.step("Underserved zones"):
        zones = underserved_zones(
            addresses,
            eligible_mask(assessment),
            municipalities,
            assessment=assessment,
            label=rule_set.id,
        )
    overlays = _mobile_overlays(opened, mobile)
    info = PageInfo.from_manifest(opened.id, opened.manifest, rule_set)
    with steps.step(f"Writing pages and figures to {out_dir}"):
        result = write_site(
            out_dir,
            info,
            municipalities=municipalities,
            addresses=addresses,
            assessment=assessment,
            stats=stats,
            zones=zones,
            columns=StatColumns.for_rule_set(rule_set.id),
            codes=codes,
            assets=assets,
            basemap=basemap,
            mobile=overlays,
        )

    summary: dict[str, Any] = {
        "out_dir": str(result.out_dir),
        "release_id": opened.id,
        "rule_set": rule_set.id,
        "generated": info.generated,
        "index": str(result.index),
        "pages": {code: str(path) for code, path in result.pages.items()},
        "figures": [str(p) for p in result.figures],
        "assets": assets.mode,
    }
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    if quiet:
        return
    out.print(
        f"Wrote {result.index} with {len(result.pages)} municipality page(s) and "
        f"{len(result.figures)} figure(s) in {result.out_dir / 'figures'}."
    )
    if info.generated:
        out.print(
            "[bold yellow]The release contains GENERATED records: pages and figures say so.[/]"
        )


def _mobile_overlays(release: Release, folder: Path | None) -> Any:
    """An overlay maker for the modelled mobile rasters, or None when there are none.

    Layers come from ``--mobile`` (a folder with ``layers.json``) or, by default, the release's
    ``mobile/layers.json`` when the release carries a model run. Only outdoor layers are drawn.
    """
    from coverage.mobile.colours import colour_map
    from coverage.mobile.model import best_layers, load_layers
    from maps.raster import raster_overlay

    if folder is None:
        default = release.path / "mobile" / "layers.json"
        if not default.exists():
            return None
        folder = default
    layers = list(best_layers(load_layers(folder), "outdoor"))
    if not layers:
        return None

    def make(bounds: tuple[float, float, float, float]) -> list[Any]:
        overlays = []
        for layer in layers:
            colours = colour_map(layer.colour_map)
            overlay = raster_overlay(
                layer.path,
                colours.intervals(),
                name=f"Mobil, modelleret: {layer.operator} {layer.technology} ({colours.title})",
                bounds=bounds,
                legend=[(e["label"], e["color"]) for e in colours.legend()],
                generated=layer.generated,
            )
            if overlay is not None:
                overlays.append(overlay)
        return overlays

    return make
