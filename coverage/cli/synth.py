"""``netkort`` commands: synth (seeded generator of region- and national-size data)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from coverage.cli.common import AsJson, Quiet, RichSteps, app, out, settings_from
from coverage.errors import InvalidRequestError
from coverage.synth import SynthOptions, synthesize
from coverage.synth_mobile import MobileOptions


class ScaleChoice(StrEnum):
    """Where addresses are generated."""

    region = "region"
    national = "national"


@app.command()
def synth(
    out_dir: Annotated[
        Path, typer.Option("-o", "--out", help="Folder to write the generated files into.")
    ],
    addresses: Annotated[
        int | None,
        typer.Option(
            "--addresses", help="Number of addresses (default 850,000 region / 3.8 M national)."
        ),
    ] = None,
    scale: Annotated[
        ScaleChoice,
        typer.Option(
            "--scale", help="region: the 19 municipalities of NETKORT_REGION (1082); national: 99."
        ),
    ] = ScaleChoice.region,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 2026,
    underserved: Annotated[
        float,
        typer.Option(
            "--underserved", help="Share of addresses with best fixed download below 100 Mbit/s."
        ),
    ] = 0.02,
    sites: Annotated[
        str,
        typer.Option(
            "--sites",
            help="Mobile sites over three operators: a number, 'auto' (the bundle's mast density) "
            "or 0 for no mobile data.",
        ),
    ] = "auto",
    measurements: Annotated[
        int | None,
        typer.Option(
            "--measurements",
            help="Measurements drawn from a model of the sites (default ~5.3 per address: "
            "20 M at national scale); 0 to skip.",
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Data bundle (default NETKORT_DATA).")
    ] = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Generate a GENERATED address register and broadband mapping that build like real ones.

    Writes adgangsadresser.csv, bbk_udbudt.csv, mobile_sites.csv, measurements.parquet,
    sources.toml and README.txt into the folder; then `netkort build --sources DIR/sources.toml`
    (with `--region all` for national scale).
    """
    site_count = _site_count(sites)
    settings = settings_from(None, data=data)
    region = settings.region if settings.region != "all" else "1082"
    options = SynthOptions(
        scale=scale.value,
        addresses=addresses,
        seed=seed,
        underserved=underserved,
        region=region,
        mobile=MobileOptions(sites=site_count, measurements=measurements),
    )
    result = synthesize(out_dir, settings.data, options, reporter=RichSteps(quiet or as_json))
    if as_json:
        payload = {
            "out_dir": str(result.out_dir),
            "files": {k: str(v) for k, v in result.files.items()},
            "counts": result.counts,
            "zones": result.zones,
            "seed": options.seed,
            "scale": options.scale,
            "date": result.date,
            "build": result.build_command,
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    if quiet:
        return
    table = Table(title=f"Generated into {result.out_dir} (seed {options.seed}): NOT REAL DATA")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in result.counts.items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    for zone, value in result.zones.items():
        table.add_row(f"zone {zone}", f"{value:,}")
    out.print(table)
    out.print(f"Next: {result.build_command}", soft_wrap=True)


def _site_count(text: str) -> int | None:
    """``auto`` is None (the bundle's density); otherwise a whole number."""
    if text.strip().casefold() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRequestError(
            f"--sites {text!r}: expected a number of sites or 'auto'"
        ) from None


__all__ = ["app"]
