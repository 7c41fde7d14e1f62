"""Exports in the formats GIS and spreadsheets take: GeoPackage, GeoJSON, FlatGeobuf, GeoParquet,
zipped Shapefile and CSV, each carrying the rule set, release, sources and attribution it came from.

Every file is written under a hidden temporary name in the target folder and renamed into place only
when the whole export has succeeded: a reader never sees a half-written file under the final name,
and a failed export leaves nothing behind.

Where each format keeps the metadata (:class:`ExportMetadata`):

========  =====================================================================================
gpkg      several layers in one file plus a non-spatial ``metadata`` table (key, value)
geojson   EPSG:4326 (RFC 7946, lon/lat), a foreign member ``"netkort"`` on the FeatureCollection;
          one file per layer when several (``<stem>-<layer>.geojson``)
fgb       FlatGeobuf in EPSG:25832; the JSON in the header's metadata (``netkort`` key); per layer
parquet   GeoParquet (geopandas ``to_parquet``); the JSON under the ``netkort`` key of the file's
          key-value metadata; per layer
shp       one ``.shp.zip`` with ``<layer>.shp/.shx/.dbf/.prj/.cpg`` (UTF-8, so æøå survive), field
          names cut to 10 characters by :func:`shapefile_field_names`, the mapping in the sidecar
csv       UTF-8 with BOM (spreadsheets show æøå); points as east/north (EPSG:25832) and lon/lat,
          other geometries as ``wkt_25832``; per layer
========  =====================================================================================

csv and shp also get a sidecar ``<output name>.metadata.json`` next to them (``out.csv.metadata.json``,
``out.shp.zip.metadata.json``), named after the whole output name so a csv and a shp export of the
same stem in one folder never overwrite each other's sidecar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors

from coverage import __version__
from coverage.addresstext import fold, street_key
from coverage.assess import assess
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.export_formats import (
    FORMATS,
    SUFFIX_FORMATS,
    WRITERS,
    shapefile_field_names,
    staging,
)
from coverage.gridstats import grid_cell_stats
from coverage.release import Release
from coverage.rules import get_rule_set
from coverage.stats import municipality_stats
from coverage.zones import (
    eligible_mask,
    threshold_label,
    threshold_mask,
    underserved_zones,
)

GENERATED_NOTE = (
    "Contains GENERATED records (netkort synth), not real data: rows with generated=true are "
    "synthetic. / Indeholder GENEREREDE data (netkort synth), ikke virkelige data."
)


@dataclass(frozen=True)
class ExportMetadata:
    """What every export states about itself: rule set, release, time, sources, filters."""

    release_id: str
    rule_set_id: str | None = None
    rule_set_title: str | dict[str, str] | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    sources: tuple[dict[str, Any], ...] = ()
    attribution: tuple[str, ...] = ()
    generated: bool = False
    filters: dict[str, Any] = field(default_factory=dict)
    netkort_version: str = __version__

    @classmethod
    def for_release(
        cls, release: Release, *, rule_set: Any = None, filters: dict[str, Any] | None = None
    ) -> ExportMetadata:
        """Metadata from a release's manifest and the rule set applied (``id`` and ``title``).

        Sources are listed by file name, sha256, year, licence and attribution; a bilingual
        title stays a ``{"da", "en"}`` object.
        """
        manifest = release.manifest
        sources = tuple(
            {
                "kind": i.get("kind"),
                "file": Path(str(i.get("path", ""))).name,
                "sha256": i.get("sha256"),
                "year": i.get("year"),
                "licence": i.get("licence") or None,
                "attribution": i.get("attribution") or None,
                "generated": bool(i.get("generated", False)),
            }
            for i in manifest.get("inputs", [])
        )
        return cls(
            release_id=release.id,
            rule_set_id=None if rule_set is None else str(rule_set.id),
            rule_set_title=None if rule_set is None else _title(rule_set.title),
            sources=sources,
            attribution=tuple(manifest.get("attribution", [])),
            generated=release.generated,
            filters=dict(filters or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The metadata as JSON-ready data, with a visible note when records are generated."""
        data = asdict(self)
        data["sources"] = list(self.sources)
        data["attribution"] = list(self.attribution)
        data["note"] = GENERATED_NOTE if self.generated else None
        return data


def _title(title: Any) -> str | dict[str, str]:
    return title.model_dump() if hasattr(title, "model_dump") else str(title)


def format_from_path(path: str | Path) -> str:
    """The export format named by an output file's suffix (``out.gpkg`` → ``gpkg``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise InvalidRequestError(
            f"cannot tell the format from {str(path)!r}: give --format, one of "
            f"{', '.join(FORMATS)} (or use a suffix {', '.join(SUFFIX_FORMATS)})"
        )
    return SUFFIX_FORMATS[suffix]


def export(
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame],
    fmt: str | None,
    path: str | Path,
    metadata: ExportMetadata,
) -> list[Path]:
    """Write the layers in one format; return the files written (including any sidecar).

    ``fmt`` None infers the format from the suffix of ``path``. The ``generated`` flag of the
    metadata is raised when any layer holds a generated row, so the note cannot be forgotten.
    """
    fmt = (fmt or format_from_path(path)).lower()
    if fmt not in FORMATS:
        raise InvalidRequestError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if not layers:
        raise InvalidRequestError("nothing to export: no layers were given")
    if any(_has_generated(frame) for frame in layers.values()):
        metadata = replace(metadata, generated=True)
    meta = metadata.to_dict() | {"layers": {name: len(frame) for name, frame in layers.items()}}
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with staging(path.parent) as stage:
            WRITERS[fmt](layers, path, meta, stage)
    except (OSError, pyogrio.errors.DataSourceError) as exc:
        # A folder that cannot be written, a full disk: one line for the user, not a traceback.
        raise InvalidRequestError(f"{path}: cannot write the export: {exc}") from exc
    return stage.finals


# --------------------------------------------------------------------------------------------------
# Layers from a release


def build_layers(
    release: Release,
    what: str,
    rule_set: Any,
    municipalities: list[str] | None = None,
    fixed_below: str | None = None,
    mobile_below: float | None = None,
    *,
    join_distance: float | None = 200.0,
) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """The layers a planner exports, assessed under a rule set (a ``RuleSet`` or its key).

    ``what`` is one of :data:`WHAT`. ``municipalities`` restricts everything to those codes (or
    names); an unknown one raises :class:`NotFoundError` listing the valid codes. ``fixed_below`` /
    ``mobile_below`` (see :func:`coverage.zones.threshold_mask`) narrow the address layers and, when
    given, replace the rule set's eligibility as the selection the zones are built from.

    Layers: ``eligible_addresses`` (class eligible, eligible_blue or eligible_if_zone, with class and
    reasons so a planner can filter), ``addresses`` (every address with its class), ``zones``,
    ``grid_1km`` (1 km cell statistics) and ``stats`` (:func:`coverage.stats.municipality_stats`:
    one row per municipality and a total row, for the rule set).
    """
    if what not in WHAT:
        raise InvalidRequestError(f"unknown layer choice {what!r}; choose one of {', '.join(WHAT)}")
    rules = get_rule_set(rule_set) if isinstance(rule_set, str | int) else rule_set
    munis = release.read("municipalities")
    codes = resolve_municipalities(munis, municipalities)
    addresses = release.read("addresses")
    if codes is not None:
        addresses = addresses[addresses["kommunekode"].isin(codes)].reset_index(drop=True)
        munis = munis[munis["kommunekode"].isin(codes)].reset_index(drop=True)
    mapping = release.read("availability")
    # assess() looks rows up by address id, so the whole table is passed (rows of other
    # municipalities are never looked up; an empty table would trip the assessment).
    assessment = assess(addresses, mapping, rules).reset_index(drop=True)
    thresholds = fixed_below is not None or mobile_below is not None
    narrowed = (
        threshold_mask(assessment, fixed_below, mobile_below)
        if thresholds
        else np.ones(len(addresses), dtype=bool)
    )
    wanted = WHAT[what]
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {}
    if "eligible_addresses" in wanted:
        rows = eligible_mask(assessment) & narrowed
        layers["eligible_addresses"] = address_layer(addresses, assessment, rows)
    if "addresses" in wanted:
        layers["addresses"] = address_layer(addresses, assessment, narrowed)
    if "zones" in wanted:
        selection = narrowed if thresholds else eligible_mask(assessment)
        label = threshold_label(fixed_below, mobile_below) if thresholds else str(rules.id)
        zones = underserved_zones(
            addresses,
            selection,
            munis,
            assessment=assessment,
            join_distance=join_distance,
            label=label,
        )
        zones.attrs["geometry_type"] = "MultiPolygon"
        layers["zones"] = zones
    if "grid_1km" in wanted:
        grid = grid_cell_stats(addresses, assessment, 1000)
        grid.attrs["geometry_type"] = "Polygon"
        layers["grid_1km"] = grid
    if "stats" in wanted:
        if codes is not None:  # unmatched rows have no address, only a municipality name
            names = street_key(munis["kommunenavn"])
            unmatched = mapping["address_id"].isna() & street_key(mapping["kommunenavn"]).isin(
                names
            )
            # Matched rows of other municipalities are never looked up; their unmatched rows
            # would be counted, so they go.
            mapping = mapping[mapping["address_id"].notna() | unmatched]
        region = (release.manifest.get("region") or {}).get("name") if codes is None else None
        layers["stats"] = municipality_stats(
            addresses,
            {str(rules.id): assessment},
            mapping,
            pd.DataFrame(munis[["kommunekode", "kommunenavn"]]),
            region_name=region,
        )
    return layers


#: Choices of ``build_layers(what=...)`` and the layers each gives.
WHAT = {
    "eligible-addresses": ("eligible_addresses",),
    "addresses": ("addresses",),
    "zones": ("zones",),
    "grid": ("grid_1km",),
    "stats": ("stats",),
    "all": ("eligible_addresses", "addresses", "zones", "grid_1km", "stats"),
}

_ADDRESS_FIELDS = [
    "id", "address", "vejnavn", "husnr", "supplerendebynavn", "postnr", "postnrnavn",
    "kommunekode", "kommunenavn", "zone", "zone_source", "east", "north", "ddkn_m100", "ddkn_km1",
    "best_down", "best_up", "best_tech", "mobile_down", "mobile_up", "class", "reasons",
    "reason_da", "reason_en", "rule_set", "generated",
]  # fmt: skip


def address_layer(
    addresses: gpd.GeoDataFrame, assessment: pd.DataFrame, rows: np.ndarray
) -> gpd.GeoDataFrame:
    """Addresses (selected by ``rows``) with their text, position and assessment side by side."""
    base = addresses.loc[rows].reset_index(drop=True)
    judged = assessment.loc[rows].reset_index(drop=True)
    base["address"] = address_text(base)
    for column in judged.columns:
        if column not in ("address_id", "kommunekode"):
            base[column] = judged[column].to_numpy()
    base["generated"] = base["generated"].fillna(False).astype(bool)
    if "generated" in judged.columns:
        base["generated"] |= judged["generated"].fillna(False).astype(bool).to_numpy()
    columns = [c for c in _ADDRESS_FIELDS if c in base.columns]
    layer = gpd.GeoDataFrame(base[columns], geometry=base.geometry.to_numpy(), crs=addresses.crs)
    layer.attrs["geometry_type"] = "Point"
    return layer


def address_text(addresses: pd.DataFrame) -> pd.Series:
    """Danish address lines: ``Vejnavn 10A, Suppl. bynavn, 8305 Postby`` (the district if any)."""
    text = addresses["vejnavn"].astype("string") + " " + addresses["husnr"].astype("string")
    if "supplerendebynavn" in addresses.columns:
        extra = addresses["supplerendebynavn"].astype("string").fillna("")
        text = text + extra.where(extra == "", ", " + extra)
    post = addresses["postnr"].astype("string")
    if "postnrnavn" in addresses.columns:
        post = post + " " + addresses["postnrnavn"].astype("string").fillna("")
    return (text + ", " + post).str.strip()


def resolve_municipalities(
    municipalities: pd.DataFrame, wanted: list[str] | None
) -> list[str] | None:
    """Municipality codes for codes or names given by a user; None when none were given."""
    if not wanted:
        return None
    codes = municipalities["kommunekode"].astype(str).tolist()
    names = municipalities["kommunenavn"].astype(str).tolist()
    by_name = {fold(n): c for c, n in zip(codes, names, strict=True)}
    out: list[str] = []
    unknown: list[str] = []
    for value in wanted:
        text = str(value).strip()
        code = text.zfill(4) if text.isdigit() else by_name.get(fold(text))
        if code is not None and code in codes:
            out.append(code)
        else:
            unknown.append(text)
    if unknown:
        raise NotFoundError(
            f"unknown municipality {', '.join(map(repr, unknown))}; valid codes: "
            + ", ".join(f"{c} {n}" for c, n in zip(codes, names, strict=True)),
            suggestions=[
                {"kommunekode": c, "kommunenavn": n} for c, n in zip(codes, names, strict=True)
            ],
        )
    return sorted(set(out))


def _has_generated(frame: pd.DataFrame) -> bool:
    return "generated" in frame.columns and bool(
        frame["generated"].fillna(False).astype(bool).any()
    )


__all__ = [
    "FORMATS",
    "GENERATED_NOTE",
    "WHAT",
    "ExportMetadata",
    "address_layer",
    "address_text",
    "build_layers",
    "export",
    "format_from_path",
    "resolve_municipalities",
    "shapefile_field_names",
]
