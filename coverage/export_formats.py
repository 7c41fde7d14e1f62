"""The writers behind :func:`coverage.export.export`, one per format, and their staging.

Every file is written under a hidden temporary name beside its final one (:class:`Stage`) and
renamed into place only when every file of the export is complete; on any failure the temporaries,
and GDAL's side files, are removed. What each format carries is described in :mod:`coverage.export`.
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
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely

from coverage.addresstext import fold
from coverage.types import WEB_CRS, WORK_CRS

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

#: DBF text fields hold at most 254 bytes.
_DBF_TEXT_BYTES = 254


# --------------------------------------------------------------------------------------------------
# Staging: write under temporary names, rename all at the end, remove everything on failure


class Stage:
    """Temporary names for the files of one export, and scratch folders removed at the end."""

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
def staging(folder: Path) -> Iterator[Stage]:
    """Rename every staged file into place when the block succeeds; remove them all when not."""
    stage = Stage(folder)
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


def _write_gpkg(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
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


def _write_geojson(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
    for name, frame in layers.items():
        tmp = stage.file(_per_layer(path, name, layers))
        if isinstance(frame, gpd.GeoDataFrame):
            frame = _with_crs(frame).to_crs(WEB_CRS)
        options = {
            "RFC7946": "YES",
            "FOREIGN_MEMBERS_COLLECTION": _json({"netkort": meta | {"layer": name}}),
        }
        _ogr_write(frame, tmp, name, "GeoJSON", layer_options=options)


def _write_fgb(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
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


def _write_parquet(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
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


def _write_shp(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
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


def _write_csv(layers: dict, path: Path, meta: dict, stage: Stage) -> None:
    files = []
    for name, frame in layers.items():
        final = _per_layer(path, name, layers)
        files.append(final.name)
        _csv_ready(frame).to_csv(stage.file(final), index=False, encoding="utf-8-sig")
    _write_sidecar(path.with_name(f"{path.name}.metadata.json"), meta | {"files": files}, stage)


WRITERS = {
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


def _write_sidecar(final: Path, data: dict[str, Any], stage: Stage) -> None:
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


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path | datetime):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = ["FORMATS", "SUFFIX_FORMATS", "WRITERS", "Stage", "shapefile_field_names", "staging"]
