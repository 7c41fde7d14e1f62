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

import glob
import io
import json
import os
import secrets
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyogrio.errors
import shapely

from coverage import __version__
from coverage.addresstext import fold, street_key
from coverage.assess import assess
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.release import Release
from coverage.rules import get_rule_set
from coverage.stats import municipality_stats
from coverage.types import WEB_CRS, WORK_CRS
from coverage.zones import (
    eligible_mask,
    grid_cell_stats,
    threshold_label,
    threshold_mask,
    underserved_zones,
)

#: Export formats and the suffix of their files.
FORMATS = {
    "gpkg": ".gpkg", "geojson": ".geojson", "fgb": ".fgb", "parquet": ".parquet",
    "shp": ".shp.zip", "csv": ".csv",
}  # fmt: skip

#: Output suffixes from which a format is inferred.
SUFFIX_FORMATS = {
    ".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".fgb": "fgb",
    ".parquet": "parquet", ".geoparquet": "parquet", ".shp": "shp", ".zip": "shp", ".csv": "csv",
}  # fmt: skip

GENERATED_NOTE = (
    "Contains GENERATED records (netkort synth), not real data: rows with generated=true are "
    "synthetic. / Indeholder GENEREREDE data (netkort synth), ikke virkelige data."
)

#: DBF text fields hold at most 254 bytes.
_DBF_TEXT_BYTES = 254


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
        with _staging(path.parent) as stage:
            _WRITERS[fmt](layers, path, meta, stage)
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


# --------------------------------------------------------------------------------------------------
# Staging: write under temporary names, rename all at the end, remove everything on failure


class _Stage:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = secrets.token_hex(4)
        self.pending: list[tuple[Path, Path]] = []
        self.scratch: list[Path] = []
        self.finals: list[Path] = []

    def file(self, final: Path) -> Path:
        """A temporary path for ``final``, hidden, with the same suffix (GDAL checks suffixes)."""
        suffix = "".join(final.suffixes[-2:]) if final.name.endswith(".shp.zip") else final.suffix
        stem = final.name[: len(final.name) - len(suffix)]
        tmp = self.folder / f".{stem}.partial-{self.token}{suffix}"
        self.pending.append((tmp, final))
        return tmp

    def directory(self, name: str) -> Path:
        """A scratch folder removed when the export ends, whatever happens."""
        tmp = self.folder / f".{name}.partial-{self.token}.d"
        tmp.mkdir()
        self.scratch.append(tmp)
        return tmp


@contextmanager
def _staging(folder: Path) -> Iterator[_Stage]:
    stage = _Stage(folder)
    try:
        yield stage
        for tmp, final in stage.pending:
            os.replace(tmp, final)  # atomic: the final name shows the old file or the whole new one
            stage.finals.append(final)
    except BaseException:
        for tmp, _final in stage.pending:
            # GDAL's SQLite side files (-journal, -wal, -shm) share the temporary's name.
            for leftover in stage.folder.glob(glob.escape(tmp.name) + "*"):
                leftover.unlink(missing_ok=True)
        raise
    finally:
        for tmp in stage.scratch:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Writers


def _write_gpkg(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    tmp = stage.file(path)
    for name, frame in layers.items():
        _ogr_write(frame, tmp, name, "GPKG")
    table = pd.DataFrame(
        {
            "key": list(meta),
            "value": [v if isinstance(v, str) else _json(v) for v in meta.values()],
        }
    )
    pyogrio.write_dataframe(table, tmp, layer="metadata", driver="GPKG")


def _write_geojson(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    for name, frame in layers.items():
        tmp = stage.file(_per_layer(path, name, layers))
        if isinstance(frame, gpd.GeoDataFrame):
            frame = _with_crs(frame).to_crs(WEB_CRS)
        options = {
            "RFC7946": "YES",
            "FOREIGN_MEMBERS_COLLECTION": _json({"netkort": meta | {"layer": name}}),
        }
        _ogr_write(frame, tmp, name, "GeoJSON", layer_options=options)


def _write_fgb(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    for name, frame in layers.items():
        tmp = stage.file(_per_layer(path, name, layers))
        spatial = isinstance(frame, gpd.GeoDataFrame)
        options = {
            "TITLE": name,
            "DESCRIPTION": meta["note"] or f"netkort export, release {meta['release_id']}",
            # FlatGeobuf's spatial index refuses rows without geometry: plain tables go without.
            "SPATIAL_INDEX": "YES" if spatial else "NO",
        }
        _ogr_write(
            frame,
            tmp,
            name,
            "FlatGeobuf",
            layer_options=options,
            layer_metadata={"netkort": _json(meta | {"layer": name})},
        )


def _write_parquet(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    for name, frame in layers.items():
        tmp = stage.file(_per_layer(path, name, layers))
        if isinstance(frame, gpd.GeoDataFrame):
            # geopandas writes the GeoParquet "geo" metadata; our key is added beside it.
            buffer = io.BytesIO()
            _with_crs(frame).to_parquet(buffer, index=False, write_covering_bbox=True)
            buffer.seek(0)
            table = pq.read_table(buffer)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        kv = dict(table.schema.metadata or {})
        kv[b"netkort"] = _json(meta | {"layer": name}).encode("utf-8")
        pq.write_table(table.replace_schema_metadata(kv), tmp, compression="zstd")


def _write_shp(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    final = path if path.name.lower().endswith(".zip") else path.with_name(path.name + ".zip")
    stem = _stem(final)
    folder = stage.directory(stem)
    fields: dict[str, dict[str, str]] = {}
    truncated: dict[str, dict[str, int]] = {}
    for name, frame in layers.items():
        names = shapefile_field_names([c for c in frame.columns if c != _geometry_name(frame)])
        fields[name] = {short: long for long, short in names.items()}
        out, cut = _dbf_ready(frame.rename(columns=names))
        if cut:
            truncated[name] = cut
        _ogr_write(out, folder / f"{name}.shp", name, "ESRI Shapefile", encoding="UTF-8")
    sidecar = meta | {"files": [final.name], "fields": fields, "truncated_to_254_bytes": truncated}
    (folder / f"{final.name}.metadata.json").write_text(_json(sidecar, indent=2), encoding="utf-8")
    with zipfile.ZipFile(stage.file(final), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(folder.iterdir()):
            archive.write(member, member.name)
    _write_sidecar(final.with_name(f"{final.name}.metadata.json"), sidecar, stage)


def _write_csv(layers: dict, path: Path, meta: dict, stage: _Stage) -> None:
    files = []
    for name, frame in layers.items():
        final = _per_layer(path, name, layers)
        files.append(final.name)
        _csv_ready(frame).to_csv(stage.file(final), index=False, encoding="utf-8-sig")
    _write_sidecar(path.with_name(f"{path.name}.metadata.json"), meta | {"files": files}, stage)


_WRITERS = {
    "gpkg": _write_gpkg,
    "geojson": _write_geojson,
    "fgb": _write_fgb,
    "parquet": _write_parquet,
    "shp": _write_shp,
    "csv": _write_csv,
}


# --------------------------------------------------------------------------------------------------
# Format helpers


def shapefile_field_names(columns: list[str]) -> dict[str, str]:
    """Map column names to DBF field names of at most 10 ASCII characters, deterministically.

    Names are folded to ASCII (æ → ae), cut to 10 characters, and a clash (DBF names are
    case-insensitive) is resolved by replacing the tail with a counter: ``kommunekode`` →
    ``kommunekod``, then ``kommunek_1``, ``kommunek_2``... in column order.
    """
    used: set[str] = set()
    out: dict[str, str] = {}
    for column in columns:
        base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in fold(str(column)))
        base = (base.replace(" ", "_") or "field")[:10]
        candidate, n = base, 0
        while candidate.casefold() in used:
            n += 1
            tail = f"_{n}"
            candidate = base[: 10 - len(tail)] + tail
        used.add(candidate.casefold())
        out[str(column)] = candidate
    return out


def _dbf_ready(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Cut text longer than a DBF field takes (254 bytes) at a character boundary; count cuts."""
    out = frame.copy()
    cut: dict[str, int] = {}
    for column in out.columns:
        dtype = out[column].dtype
        textual = pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
        if column == _geometry_name(out) or not (textual or pd.api.types.is_object_dtype(dtype)):
            continue
        text = out[column].astype("string")
        too_long = text.str.encode("utf-8").str.len() > _DBF_TEXT_BYTES
        if too_long.fillna(False).any():
            shortened = text[too_long.fillna(False)].map(_cut_utf8)
            text = text.where(~too_long.fillna(False), shortened)
            out[column] = text
            cut[str(column)] = int(too_long.fillna(False).sum())
    return out, cut


def _cut_utf8(value: str) -> str:
    return value.encode("utf-8")[:_DBF_TEXT_BYTES].decode("utf-8", errors="ignore")


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Geometry as columns a spreadsheet can use: points as coordinates in both CRSs, else WKT."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return frame
    frame = _with_crs(frame)
    geoms = frame.to_crs(WORK_CRS).geometry.to_numpy()
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    valid = ~shapely.is_missing(geoms)
    points = bool(valid.any()) and bool((shapely.get_type_id(geoms[valid]) == 0).all())
    if not points:
        out["wkt_25832"] = shapely.to_wkt(geoms, rounding_precision=2)
        return out
    lonlat = frame.to_crs(WEB_CRS).geometry.to_numpy()
    coords = {
        "east": shapely.get_x(geoms).round(2),
        "north": shapely.get_y(geoms).round(2),
        "lon": shapely.get_x(lonlat).round(7),
        "lat": shapely.get_y(lonlat).round(7),
    }
    at = list(out.columns).index("north") + 1 if "north" in out.columns else len(out.columns)
    for name in ("east", "north"):
        if name in out.columns:
            out[name] = coords[name]
    for offset, name in enumerate(c for c in ("east", "north", "lon", "lat") if c not in out):
        out.insert(at + offset, name, coords[name])
    return out


def _ogr_write(
    frame: pd.DataFrame,
    target: Path,
    layer: str,
    driver: str,
    **kwargs: Any,
) -> None:
    if isinstance(frame, gpd.GeoDataFrame):
        frame = _with_crs(frame)
        if len(frame) == 0:
            # An empty layer cannot show its geometry type; build_layers records the intended one.
            kwargs.setdefault("geometry_type", frame.attrs.get("geometry_type", "Unknown"))
    with warnings.catch_warnings():
        # A plain table has no CRS to state; GDAL's notice about assuming lon/lat is noise.
        warnings.filterwarnings("ignore", "No SRS set on layer", RuntimeWarning)
        pyogrio.write_dataframe(frame, target, layer=layer, driver=driver, **kwargs)


def _write_sidecar(final: Path, data: dict[str, Any], stage: _Stage) -> None:
    stage.file(final).write_text(_json(data, indent=2), encoding="utf-8")


def _per_layer(path: Path, name: str, layers: dict) -> Path:
    """The path itself for a single layer, ``<stem>-<layer><suffix>`` when there are several."""
    if len(layers) == 1:
        return path
    suffix = path.name[len(_stem(path)) :]
    return path.with_name(f"{_stem(path)}-{name}{suffix}")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".shp.zip", *FORMATS.values(), *SUFFIX_FORMATS):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _with_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Layers without a CRS are taken to be in the working CRS (all netkort tables are)."""
    return frame.set_crs(WORK_CRS) if frame.crs is None else frame


def _geometry_name(frame: pd.DataFrame) -> str | None:
    return frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None


def _has_generated(frame: pd.DataFrame) -> bool:
    return "generated" in frame.columns and bool(
        frame["generated"].fillna(False).astype(bool).any()
    )


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path | datetime):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
