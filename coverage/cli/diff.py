"""``netkort diff``: what changed between two releases (addresses, municipalities, zones, sources)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from coverage.cli.common import AsJson, Home, Quiet, RichSteps, app, out, settings_from
from coverage.diff import (
    CHANGE_KINDS,
    ReleaseDiff,
    change_records,
    diff_releases,
    parse_kinds,
    releases_to_compare,
    select_kinds,
    zone_records,
)
from coverage.errors import InvalidRequestError
from coverage.export import FORMATS, ExportMetadata, export, format_from_path
from coverage.release import Release, ReleaseStore
from coverage.rules import get_rule_set

_NO_RULES = ("none", "no", "off")

#: Count columns of the table: a header and the kinds it shows, separated by "/".
_COLUMNS = (
    ("register", ("added_to_register", "removed_from_register")),
    ("fast", ("got_fast", "lost_fast")),
    ("fixed", ("fixed_up", "fixed_down")),
    ("tech", ("technology_changed",)),
    ("mobile", ("mobile_up", "mobile_down")),
    ("pool", ("became_eligible", "stopped_being_eligible")),
    ("class", ("class_changed",)),
    ("changed", ("changed",)),
)


@app.command("diff")
def diff_command(
    release_a: Annotated[
        str | None,
        typer.Argument(help="The older release (default: the one before RELEASE_B)."),
    ] = None,
    release_b: Annotated[
        str | None, typer.Argument(help="The newer release (default: current).")
    ] = None,
    rules: Annotated[
        str,
        typer.Option(
            "--rules",
            help="Rule set for classes and zones: a year (2025), an id (2024-2025), 'latest', "
            "or 'none' to compare speeds only.",
        ),
    ] = "latest",
    municipality: Annotated[
        list[str] | None,
        typer.Option(
            "--municipality", "-m", help="Municipality code (0741) or name; repeat for several."
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            "-k",
            help=f"Only addresses with this kind of change (repeat for several): "
            f"{', '.join(CHANGE_KINDS)}.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the changes as layers to this file."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help=f"{', '.join(FORMATS)} (default: from the output's suffix)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Changed addresses listed in the table (0: none).")
    ] = 30,
    home: Home = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Compare two releases: by default the previous and the current one.

    Per address (by register id): added to or removed from the register, got or lost fast (100
    Mbit/s) fixed broadband, other fixed or mobile speed changes, technology changes, and under the
    rule set became or stopped being eligible for the pool. Per municipality the counts; zones that
    are new, vanished, grown or shrunk; and which input files changed.
    """
    if fmt is not None and output is None:
        raise InvalidRequestError("--format needs --output FILE to write to")
    if output is not None:
        fmt = (fmt or format_from_path(output)).lower()
        if fmt not in FORMATS:
            raise InvalidRequestError(f"unknown --format {fmt!r}; formats: {', '.join(FORMATS)}")
    kinds = parse_kinds(kind)
    if limit < 0:
        raise InvalidRequestError(f"--limit {limit} must be 0 or more")
    store = ReleaseStore(settings_from(home).home)
    older, newer = releases_to_compare(store, release_a, release_b)
    rule_set = None if rules.strip().lower() in _NO_RULES else rules
    steps = RichSteps(quiet or as_json)
    with steps.step(f"Comparing {older.id} with {newer.id}"):
        diff = diff_releases(older, newer, rule_set=rule_set, municipalities=municipality)
    changes = select_kinds(diff.changes, kinds)
    files: list[Path] = []
    if output is not None:
        with steps.step(f"Writing {fmt} to {output}"):
            files = _export(diff, newer, kinds, fmt, output)
    if as_json:
        result: dict[str, Any] = diff.summary() | {
            "kinds": kinds,
            "changes": change_records(changes),
            "zones": zone_records(diff.zones),
            "files": [str(f) for f in files],
        }
        # Plain text, not rich's print_json: a region diff is tens of MB of JSON, which rich
        # would parse and highlight for minutes.
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    if not quiet:
        _print(diff, changes, limit)
        for f in files:
            out.print(f"  wrote {f}")


def _print(diff: ReleaseDiff, changes: Any, limit: int) -> None:
    rule = f", rule set {diff.rule_set}" if diff.rule_set else ", speeds only (no rule set)"
    out.print(f"[bold]Release {diff.from_id} → {diff.to_id}[/bold]{rule}")
    if diff.generated:
        out.print("[bold yellow]Contains GENERATED records (netkort synth), not real data.[/]")
    sources = Table(title="Sources")
    for column in ("kind", "status", "from", "to"):
        sources.add_column(column)
    for s in diff.sources:
        sources.add_row(
            s.kind,
            s.status,
            _source_cell(s.path_from, s.sha256_from),
            _source_cell(s.path_to, s.sha256_to),
        )
    out.print(sources)
    if diff.identical:
        out.print(
            "The releases are identical: built from byte-identical inputs by the same software. "
            "Nothing changed."
        )
        return

    # Kinds in pairs (up/down) so the table fits a terminal: "2/1" is 2 up, 1 down.
    table = Table(
        title=f"Changed addresses per municipality ({diff.addresses_to} addresses now)",
        caption="register added/removed, fast got/lost, fixed and mobile up/down (other speed "
        "changes), pool became/stopped being eligible",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("municipality")
    for header, _ in _COLUMNS:
        table.add_column(header, justify="right")
    rows = [*diff.counts[diff.counts["changed"] > 0].to_dict("records")]
    totals = diff.totals() | {"kommunekode": "", "kommunenavn": "[bold]total[/bold]"}
    for row in [*rows, totals]:
        table.add_row(
            f"{row['kommunekode']} {row['kommunenavn']}".strip(),
            *("/".join(str(row[k]) for k in kinds) for _, kinds in _COLUMNS),
        )
    out.print(table)

    if diff.rule_set:
        zone_line = ", ".join(f"{n} {k}" for k, n in diff.zone_totals().items() if n)
        out.print(f"Zones: {zone_line or 'none in either release'}.")
        moved = diff.zones[diff.zones["change"] != "unchanged"]
        if limit and len(moved):
            zones = Table(title=f"Zone changes ({min(limit, len(moved))} of {len(moved)})")
            for column in ("zone", "change", "addresses", "km²"):
                zones.add_column(column, justify="right" if column != "zone" else "left")
            for row in zone_records(moved.head(limit)):
                zones.add_row(
                    str(row["zone_id"]),
                    str(row["change"]),
                    f"{_num(row['addresses_from'])} → {_num(row['addresses_to'])}",
                    f"{_num(row['area_km2_from'], 3)} → {_num(row['area_km2_to'], 3)}",
                )
            out.print(zones)

    if limit and len(changes):
        shown = Table(
            title=f"Changed addresses ({min(limit, len(changes))} of {len(changes)})",
            box=box.SIMPLE_HEAD,
        )
        shown.add_column("address", no_wrap=True)
        for column in ("changes", "best fixed", "mobile down", "class"):
            shown.add_column(column)
        for row in change_records(changes.head(limit)):
            fixed = [
                f"{_num(row[f'best_down_{side}'])} {row[f'best_tech_{side}'] or ''}".strip()
                for side in ("from", "to")
            ]
            klass = [(row[f"class_{side}"] or "–").replace("_", " ") for side in ("from", "to")]
            shown.add_row(
                f"{row['vejnavn']} {row['husnr']}",
                str(row["kinds"]).replace("_", " ").replace(";", ", "),
                " → ".join(fixed),
                f"{_num(row['mobile_down_from'])} → {_num(row['mobile_down_to'])}",
                " → ".join(klass) if diff.rule_set else "–",
            )
        out.print(shown)


def _export(
    diff: ReleaseDiff, release_to: Release, kinds: list[str], fmt: str | None, path: Path
) -> list[Path]:
    """Write the diff's layers (:meth:`ReleaseDiff.layers`, changed addresses narrowed to ``kinds``)
    in an export format; the metadata names both releases, the rule set and the filters."""
    rules = get_rule_set(diff.rule_set) if diff.rule_set else None
    metadata = ExportMetadata.for_release(
        release_to,
        rule_set=rules,
        filters={
            "diff_from": diff.from_id,
            "diff_to": diff.to_id,
            "identical": diff.identical,
            "municipalities": diff.municipalities or [],
            "kinds": kinds,
            "sources_changed": [c.record() for c in diff.sources if c.status != "unchanged"],
        },
    )
    layers = diff.layers() | {"changed_addresses": select_kinds(diff.changes, kinds)}
    return export(layers, fmt, path, metadata)


def _source_cell(path: str | None, sha256: str | None) -> str:
    if path is None:
        return "–"
    return f"{Path(path).name} [dim]{(sha256 or '')[:12]}[/dim]"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


__all__ = ["app"]
