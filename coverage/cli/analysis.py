"""``netkort rules``, ``assess`` and ``stats``: pool rule sets, per-address assessment, statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rapidfuzz import process
from rich.table import Table

from coverage.addresstext import fold
from coverage.assess import CLASSES, assess_many
from coverage.cli.common import AsJson, Home, Quiet, ReleaseArg, RichSteps, app, out, settings_from
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.planning import read_zone_layer
from coverage.release import Release, ReleaseStore
from coverage.rules import RuleSet, get_rule_set, load_rule_sets, resolve_rule_sets
from coverage.stats import SPEED_MEASURES, municipality_stats, read_release_tables

AsCsv = Annotated[bool, typer.Option("--csv", help="CSV on stdout (UTF-8).")]
Municipalities = Annotated[
    list[str] | None,
    typer.Option(
        "--municipality", "-m", help="Municipality code (0741) or name (Samsø); repeatable."
    ),
]
Zones = Annotated[
    Path | None,
    typer.Option("--zones", help="Planning zone layer (GeoPackage, GeoJSON or Shapefile)."),
]
ZoneField = Annotated[
    str | None, typer.Option("--zone-field", help="Field of --zones naming the zone.")
]

_SHARE_LABELS = {
    "fixed_30": "≥30",
    "fixed_100": "≥100",
    "fixed_1000": "≥1000",
    "fixed_100_30": "100/30",
    "mobile_100": "mob ≥100",
    "mobile_600": "mob ≥600",
}
_TABLE_ROWS = 50


@app.command("rules")
def rules_command(
    as_json: AsJson = False,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of titles and text: da or en.")
    ] = "en",
) -> None:
    """List the pool's rule sets: years, ceilings, zone rule, sources and interpretation."""
    if lang not in ("da", "en"):
        raise InvalidRequestError(f"--lang {lang!r}: expected da or en")
    sets = load_rule_sets()
    if as_json:
        typer.echo(json.dumps([r.summary() for r in sets], ensure_ascii=False, indent=2))
        return
    table = Table(title="Bredbåndspuljen: rule sets (newest is the default)")
    for column in ("id", "title", "fixed ceiling", "mobile", "blue band", "zones"):
        table.add_column(column)
    for r in sets:
        table.add_row(
            r.id,
            getattr(r.title, lang),
            _fixed_text(r),
            _mobile_text(r),
            f"> {r.blue.above:g} and ≤ {r.blue.down_max:g} down, ≤ {r.blue.max_project_share:.0%}"
            if r.blue
            else "",
            ", ".join(r.zone.allowed)
            + "".join(f"; {c.zone} {getattr(c.condition, lang)}" for c in r.zone.conditional),
        )
    out.print(table)
    for r in sets:
        out.print(f"\n[bold]{r.id}[/bold] {getattr(r.title, lang)}", highlight=False)
        out.print(getattr(r.interpretation, lang).strip(), highlight=False)
        for s in r.sources:
            out.print(f"  • {s.title} ({s.publisher}) {s.url}", highlight=False, soft_wrap=True)


def _fixed_text(r: RuleSet) -> str:
    op = "≤" if r.fixed.comparison == "le" else "<"
    text = f"{op} {r.fixed.down:g} down"
    if r.fixed.up is not None:
        text += f" {r.fixed.combine} {op} {r.fixed.up:g} up"
    return text


def _mobile_text(r: RuleSet) -> str:
    if r.mobile is None:
        return ""
    if r.mobile.role == "points":
        return "points only"
    return f"{'≤' if r.mobile.comparison == 'le' else '<'} {r.mobile.down:g} down"


@app.command("assess")
def assess_command(
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules", help="Rule set: a year (2025) or an id (2024-2025); default newest."
        ),
    ] = None,
    municipality: Municipalities = None,
    klass: Annotated[
        list[str] | None,
        typer.Option("--class", help=f"Only this class ({', '.join(CLASSES)}); repeatable."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many addresses.")
    ] = None,
    zones: Zones = None,
    zone_field: ZoneField = None,
    release: ReleaseArg = "current",
    home: Home = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    quiet: Quiet = False,
) -> None:
    """List addresses with their pool class and the reason, under one rule set."""
    _one_format(as_json, as_csv)
    unknown = sorted(set(klass or []) - set(CLASSES))
    if unknown:
        raise InvalidRequestError(f"--class {unknown[0]!r}: expected one of {', '.join(CLASSES)}")
    rule_set = get_rule_set(rules)
    steps = RichSteps(quiet or as_json or as_csv)
    opened = _open(release, home)
    with steps.step(f"Reading release {opened.id}"):
        layer = read_zone_layer(zones, zone_field) if zones is not None else None
        tables = read_release_tables(
            opened,
            geometry=layer is not None,
            address_columns=["vejnavn", "husnr", "postnr", "postnrnavn"],
        )
    with steps.step(f"Assessing under {rule_set.id}"):
        result = assess_many(tables.addresses, tables.availability, [rule_set], layer)[rule_set.id]
    frame = pd.concat(
        [tables.addresses[["vejnavn", "husnr", "postnr", "postnrnavn"]], result], axis=1
    )
    keep = pd.Series(True, index=frame.index)
    if municipality:
        codes = _municipality_codes(municipality, tables.municipalities, opened.id)
        keep &= frame["kommunekode"].isin(codes)
    if klass:
        keep &= frame["class"].isin(klass)
    frame = frame[keep]
    shown = frame.head(limit) if limit else frame
    columns = [
        "address_id", "vejnavn", "husnr", "postnr", "postnrnavn", "kommunekode", "class",
        "best_down", "best_up", "best_tech", "mobile_down", "mobile_up", "zone", "zone_source",
        "reason_da", "reason_en", "reasons", "rule_set", "generated",
    ]  # fmt: skip
    shown = shown[columns]
    if as_csv:
        typer.echo(shown.to_csv(index=False), nl=False)
        return
    if as_json:
        records = json.loads(shown.to_json(orient="records", force_ascii=False))
        for record in records:
            record["reasons"] = json.loads(record["reasons"])
        payload = {
            "release_id": opened.id,
            "rule_set": rule_set.id,
            "generated": bool(frame["generated"].any()),
            "matched": len(frame),
            "addresses": records,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    _print_assessment(shown.head(limit or _TABLE_ROWS), len(frame), rule_set, opened)


def _print_assessment(frame: pd.DataFrame, total: int, rules: RuleSet, release: Release) -> None:
    table = Table(title=f"Release {release.id}: addresses under {rules.id} ({total} selected)")
    for column in ("address", "class", "fixed (down/up)", "mobile", "zone", "reason"):
        table.add_column(column)
    for row in frame.to_dict("records"):
        fixed = (
            "–" if pd.isna(row["best_down"]) else f"{row['best_down']:g}/{_speed(row['best_up'])}"
        )
        if isinstance(row["best_tech"], str):
            fixed += f" {row['best_tech']}"
        mobile = row["mobile_down"], row["mobile_up"]
        table.add_row(
            f"{row['vejnavn']} {row['husnr']}, {row['postnr']} {row['postnrnavn']}",
            str(row["class"]),
            fixed,
            "–" if pd.isna(mobile[0]) else f"{mobile[0]:g}/{_speed(mobile[1])}",
            "unknown" if pd.isna(row["zone"]) else f"{row['zone']} ({row['zone_source']})",
            str(row["reason_en"]),
        )
    out.print(table)
    if total > len(frame):
        out.print(f"{len(frame)} of {total} shown; use --limit, --json or --csv for more.")
    if release.generated:
        out.print("[bold yellow]The release contains GENERATED records, not real data.[/]")


@app.command("stats")
def stats_command(
    release: ReleaseArg = "current",
    rules: Annotated[
        list[str] | None,
        typer.Option("--rules", help="Rule set (year or id); repeatable. Default: all."),
    ] = None,
    municipality: Municipalities = None,
    sort: Annotated[str | None, typer.Option("--sort", help="Column to sort by.")] = None,
    descending: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    zones: Zones = None,
    zone_field: ZoneField = None,
    home: Home = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    quiet: Quiet = False,
) -> None:
    """Coverage and pool eligibility per municipality, with the region total last."""
    _one_format(as_json, as_csv)
    rule_sets = resolve_rule_sets(rules)
    steps = RichSteps(quiet or as_json or as_csv)
    opened = _open(release, home)
    with steps.step(f"Reading release {opened.id}"):
        layer = read_zone_layer(zones, zone_field) if zones is not None else None
        tables = read_release_tables(opened, geometry=layer is not None)
    with steps.step(f"Assessing under {', '.join(r.id for r in rule_sets)}"):
        assessments = assess_many(tables.addresses, tables.availability, rule_sets, layer)
        table = municipality_stats(
            tables.addresses,
            assessments,
            tables.availability,
            tables.municipalities,
            region_name=tables.region_name,
        )
    rows = table[table["level"] == "municipality"]
    if municipality:
        codes = _municipality_codes(municipality, tables.municipalities, opened.id)
        rows = rows[rows["kommunekode"].isin(codes)]
    if sort is not None:
        if sort not in table.columns:
            raise InvalidRequestError(
                f"--sort {sort!r}: no such column; expected one of {', '.join(table.columns)}"
            )
        rows = rows.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
    table = pd.concat([rows, table[table["level"] == "region"]], ignore_index=True)
    if as_csv:
        typer.echo(table.to_csv(index=False), nl=False)
        return
    if as_json:
        payload = {
            "release_id": opened.id,
            "generated": opened.generated,
            "rule_sets": [r.id for r in rule_sets],
            "shares_of": "addresses with mapping data (with_data)",
            "measures": SPEED_MEASURES,
            "rows": json.loads(table.to_json(orient="records", force_ascii=False)),
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    _print_stats(table, rule_sets, opened)


def _print_stats(table: pd.DataFrame, rule_sets: list[RuleSet], release: Release) -> None:
    title = f"Release {release.id}: coverage and pool eligibility"
    grid = Table(title=title, caption="Shares are of addresses with mapping data.")
    for column in ("kode", "kommune", "addresses", "no data", *_SHARE_LABELS.values()):
        grid.add_column(column, justify="left" if column in ("kode", "kommune") else "right")
    for r in rule_sets:
        grid.add_column(f"pool {r.id}", justify="right")
    for row in table.to_dict("records"):
        cells = [
            row["kommunekode"] if isinstance(row["kommunekode"], str) else "",
            str(row["kommunenavn"]),
            f"{row['addresses']:,}",
            f"{row['no_data']:,}",
        ]
        for measure in _SHARE_LABELS:
            share = row[f"{measure}_share"]
            cells.append("–" if pd.isna(share) else f"{share:.1%}")
        for r in rule_sets:
            text = f"{row[f'eligible_{r.id}']:,}"
            if row[f"eligible_blue_{r.id}"]:
                text += f" +{row[f'eligible_blue_{r.id}']:,} blue"
            if row[f"eligible_if_zone_{r.id}"]:
                text += f" +{row[f'eligible_if_zone_{r.id}']:,} if zone"
            cells.append(text)
        grid.add_row(*cells, style="bold" if row["level"] == "region" else None)
    out.print(grid)
    out.print(
        "'+n if zone': eligible if the zone rule holds (zone unknown, or byzone in a small town).",
        highlight=False,
    )
    if release.generated:
        out.print("[bold yellow]The release contains GENERATED records, not real data.[/]")


def _speed(value: float) -> str:
    return "?" if pd.isna(value) else f"{value:g}"


def _open(release: str, home: Path | None) -> Release:
    return ReleaseStore(settings_from(home).home).open(release)


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise InvalidRequestError("--json and --csv exclude each other; choose one")


def _municipality_codes(values: list[str], municipalities: pd.DataFrame, release: str) -> list[str]:
    """Codes for ``--municipality`` values given as codes (``741``, ``0741``) or names."""
    codes = municipalities["kommunekode"].astype(str).tolist()
    names = municipalities["kommunenavn"].astype(str).tolist()
    by_name = {fold(n): c for c, n in zip(codes, names, strict=True)}
    found: list[str] = []
    for value in values:
        text = value.strip()
        code = text.zfill(4) if text.isdigit() else by_name.get(fold(text))
        if code is None or code not in codes:
            close = process.extract(text, names, limit=3)
            raise NotFoundError(
                f"municipality {value!r} is not in release {release}; give a code or name such as "
                + ", ".join(f"{codes[i]} {n}" for n, _score, i in close),
                suggestions=[{"kommunekode": codes[i], "kommunenavn": n} for n, _s, i in close],
            )
        found.append(code)
    return found


__all__ = ["app"]
