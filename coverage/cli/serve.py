"""``netkort serve`` and ``netkort lookup``: the HTTP service, and the same address answer offline."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from coverage.answer import LookupContext, lookup
from coverage.cli.common import AsJson, Home, Quiet, RichSteps, app, err, out, settings_from
from coverage.errors import NotFoundError
from coverage.lookup import AddressIndex
from coverage.release import ReleaseStore
from coverage.reports import reports_for_lookup

__all__ = ["app"]


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default NETKORT_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default NETKORT_PORT or 8000).", min=1, max=65535),
    ] = None,
    reload_interval: Annotated[
        float | None,
        typer.Option("--reload-interval", help="Seconds between checks for a new release.", min=0),
    ] = None,
    home: Home = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (info, warning, debug).")
    ] = "info",
) -> None:
    """Serve lookups, OGC API Features, statistics and exports over HTTP (uvicorn)."""
    import uvicorn

    from service.main import create_app
    from service.settings import ServiceSettings

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "reload_interval": reload_interval,
            "home": home,
        }.items()
        if v is not None
    }
    settings = ServiceSettings(**overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level.lower(),
        # uvloop's event loop and httptools' parser (both pinned in the requirements) whenever
        # they import, rather than asyncio's loop and the pure-Python h11 parser.
        loop="auto",
        http="auto",
    )


@app.command("lookup")
def lookup_command(
    text: Annotated[
        str | None, typer.Argument(help="Address text, e.g. 'Strandvejen 52, 8305 Samsø'.")
    ] = None,
    address_id: Annotated[
        str | None, typer.Option("--id", help="Register UUID (or a mapping id) instead of text.")
    ] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude (WGS84 degrees).")] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude (WGS84 degrees).")] = None,
    release: Annotated[
        str, typer.Option("--release", help="Release id (default: current).")
    ] = "current",
    home: Home = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """What an address can get: the same answer as GET /api/lookup, by text, --id or --lon/--lat."""
    settings = settings_from(home)
    store = ReleaseStore(settings.home)
    steps = RichSteps(quiet or as_json)
    rel = store.open(release)
    with steps.step(f"Loading and indexing release {rel.id}"):
        index = AddressIndex.from_release(rel)
        context = LookupContext.from_release(rel, index.table, index.availability)
    try:
        answer = lookup(index, context, q=text, id=address_id, lon=lon, lat=lat)
    except NotFoundError as exc:
        for s in exc.suggestions:
            err.print(f"  did you mean: {s['text']}  [dim]({s['id']})[/dim]", highlight=False)
        raise
    # The same answer as the API: reports on the address come from the same store.
    answer["reports"] = reports_for_lookup(
        settings.home, settings.database_url, answer["address"]["id"]
    )
    if as_json:
        out.print_json(json.dumps(answer, ensure_ascii=False))
        return
    _print_answer(answer)


def _mbit(value: float | None) -> str:
    if value is None:
        return "–"
    return "not offered" if value == 0 else f"{value:g}"


def _print_answer(answer: dict[str, Any]) -> None:
    a = answer["address"]
    out.print(f"[bold]{a['text']}[/bold]  [dim]{a['id']}[/dim]", highlight=False)
    if a["position_known"]:
        out.print(f"  {a['kommunenavn']} ({a['kommunekode']}), lat {a['lat']}, lon {a['lon']}")
    else:
        out.print("  [yellow]position unknown: the mapping row matched no register address[/]")
    if answer["point"]:
        out.print(f"  nearest to the asked point: {answer['point']['distance_m']} m away")
    table = Table(title="Offered speeds, Mbit/s (down / up)")
    table.add_column("technology")
    table.add_column("down", justify="right")
    table.add_column("up", justify="right")
    for tech, s in answer["fixed"]["technologies"].items():
        table.add_row(tech, _mbit(s["down"]), _mbit(s["up"]))
    declared = answer["mobile"]["declared"]
    if declared:
        table.add_row("mobile (declared)", _mbit(declared["down"]), _mbit(declared["up"]))
    out.print(table)
    best = answer["fixed"]["best"]
    out.print(
        f"Best fixed: {_mbit(best['down'])} / {_mbit(best['up'])} ({best['technology'] or 'none'})"
    )
    for rid, pool in answer["pool"].items():
        out.print(f"[bold]Pool {rid}[/bold]: {pool['class']}", highlight=False)
        for line in (pool["reason_en"], pool["reason_da"]):
            if line:
                out.print(f"  {line}", highlight=False)
        if pool["zone_ids"]:
            out.print(f"  zones: {', '.join(pool['zone_ids'])}", highlight=False)
    rel = answer["release"]
    out.print(f"[dim]Release {rel['id']} ({rel['created']})[/dim]")
    for line in [*answer["sources"]["attribution"], *answer["notes"]]:
        out.print(f"[dim]  {line}[/dim]", highlight=False)
