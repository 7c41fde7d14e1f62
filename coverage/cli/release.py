"""``netkort build``, ``releases`` and ``info``: making and inspecting releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from coverage.build import build_release, summarize
from coverage.cli.common import AsJson, Home, Quiet, RichSteps, app, out, settings_from
from coverage.release import ReleaseStore
from coverage.sources import SourceFile, load_manifest


@app.command()
def build(
    sources: Annotated[
        Path | None, typer.Option("--sources", help="Source manifest (default data/sources.toml).")
    ] = None,
    boundaries: Annotated[
        Path | None, typer.Option("--boundaries", help="Municipality layer (DAGI GeoJSON).")
    ] = None,
    addresses: Annotated[
        list[Path] | None,
        typer.Option("--addresses", help="Address register CSV; repeat for several files."),
    ] = None,
    mapping: Annotated[
        list[Path] | None,
        typer.Option("--mapping", help="Broadband mapping CSV; repeat for several files."),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Column profile for --mapping files (name or .toml).")
    ] = "bbk-bundle",
    data: Annotated[
        Path | None, typer.Option("--data", help="Data bundle (default NETKORT_DATA).")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region code, or 'all' (default 1082).")
    ] = None,
    home: Home = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build even if the inputs equal the current release's.")
    ] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Build a release from the sources and make it current once it is complete and verified."""
    settings = settings_from(home, data=data, region=region)
    manifest = load_manifest(sources, settings.data)
    if boundaries is not None:
        manifest = manifest.with_boundaries(boundaries)
    if addresses:
        manifest = manifest.with_files(
            "addresses", [SourceFile("addresses", p.resolve()) for p in addresses]
        )
    if mapping:
        manifest = manifest.with_files(
            "mapping", [SourceFile("mapping", p.resolve(), profile=profile) for p in mapping]
        )
    result = build_release(settings, manifest, reporter=RichSteps(quiet or as_json), force=force)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "release_id": result.release.id,
                    "identical": result.identical,
                    "counts": result.counts,
                }
            )
        )
        return
    if quiet:
        return
    if result.identical:
        out.print(
            f"Inputs are byte-identical to the current release {result.release.id}: nothing to "
            "build (use --force to build anyway)."
        )
        return
    _print_counts(result.release.id, result.counts, result.release.generated)


def _print_counts(release_id: str, counts: dict[str, Any], generated: bool) -> None:
    table = Table(
        title=f"Release {release_id}" + (" (contains GENERATED records)" if generated else "")
    )
    for column in ("source", "read", "accepted", "quarantined", "matched", "unmatched"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source in ("addresses", "mapping"):
        c = counts.get(source, {})
        table.add_row(
            source,
            *(
                str(c.get(k, ""))
                for k in ("read", "accepted", "quarantined", "matched", "unmatched")
            ),
        )
    out.print(table)
    out.print(f"{counts.get('municipalities', 0)} municipalities.")


@app.command()
def releases(home: Home = None, as_json: AsJson = False) -> None:
    """List the releases, marking the current one."""
    store = ReleaseStore(settings_from(home).home)
    current = store.current_id()
    rows = [
        {
            "release_id": r.id,
            "created": r.manifest.get("created"),
            "current": r.id == current,
            "generated": r.generated,
            "addresses": r.manifest.get("counts", {}).get("addresses", {}).get("accepted"),
        }
        for r in store.list()
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Releases in {store.home}")
    for column in ("", "release", "created", "addresses", "generated"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            "*" if r["current"] else "",
            r["release_id"],
            str(r["created"]),
            str(r["addresses"]),
            "yes" if r["generated"] else "no",
        )
    out.print(table)


@app.command()
def info(
    release: Annotated[str, typer.Argument(help="Release id (default: current).")] = "current",
    home: Home = None,
    as_json: AsJson = False,
) -> None:
    """Describe a release: id, region, municipalities, counts, inputs."""
    store = ReleaseStore(settings_from(home).home)
    summary = summarize(store.open(release))
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False, default=str))
        return
    region = summary["region"] or {}
    out.print(f"[bold]Release {summary['release_id']}[/bold]  created {summary['created']}")
    out.print(f"Region {region.get('code')} {region.get('name')}")
    if summary["generated"]:
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")
    munis = Table(title="Municipalities")
    munis.add_column("kode")
    munis.add_column("navn")
    for m in summary["municipalities"]:
        munis.add_row(m["kode"], m["navn"])
    out.print(munis)
    _print_counts(summary["release_id"], summary["counts"], summary["generated"])
    for line in summary["attribution"]:
        out.print(f"  {line}")
