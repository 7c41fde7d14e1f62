"""``netkort`` commands: synth (seeded generator of region- and national-size data)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from coverage.cli.common import AsJson, Quiet, RichSteps, app, out, settings_from
from coverage.synth import SynthOptions, synthesize


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
    data: Annotated[
        Path | None, typer.Option("--data", help="Data bundle (default NETKORT_DATA).")
    ] = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Generate a GENERATED address register and broadband mapping that build like real ones.

    Writes adgangsadresser.csv, bbk_udbudt.csv, sources.toml and README.txt into the folder; then
    `netkort build --sources DIR/sources.toml` (with `--region all` for national scale).
    """
    settings = settings_from(None, data=data)
    region = settings.region if settings.region != "all" else "1082"
    options = SynthOptions(
        scale=scale.value,
        addresses=addresses,
        seed=seed,
        underserved=underserved,
        region=region,
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


__all__ = ["app"]
