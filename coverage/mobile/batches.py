"""Measurement files read in batches into compact columns: tens of millions of samples in little memory.

:func:`~coverage.mobile.measurements.read_measurements` returns a GeoDataFrame of shapely points,
right for a file of thousands of rows and wrong for twenty million: a point object, a Python string
per device and per source file cost several hundred bytes a row. :func:`scan_measurements` reads a
(Geo)Parquet file batch by batch (pyarrow ``iter_batches``), runs every batch through the same checks
(:func:`~coverage.mobile.measurements.validate_rows`, so the quarantine is the same row for row, with
the same 1-based row numbers), and keeps only what aggregation and calibration use
(:data:`COMPACT_COLUMNS`): coordinates and values as numpy, the vocabularies and the devices as
categorical codes. About 45 bytes a sample; 20 million samples fit in under 1 GB.

A CSV file (or GeoParquet with GeoArrow rather than WKB geometry) is read whole through
``read_measurements`` and compacted: a measurement feed of that size comes as (WKB) Parquet, and
the CSV reader needs the whole text to detect encoding and separator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Transformer

from coverage.errors import SourceError
from coverage.mobile.measurements import canonical_columns, read_measurements, validate_rows
from coverage.mobile.vocab import ENVIRONMENTS, OPERATORS, TECHNOLOGIES
from coverage.quarantine import Quarantine
from coverage.types import WORK_CRS

#: Rows per batch: large enough that per-batch overhead vanishes, small enough that a batch's
#: Python strings (devices, vocabularies) stay a few hundred MB at most.
BATCH_ROWS = 1_000_000

#: Columns of the compact table, in order.
COMPACT_COLUMNS = [
    "time",
    "east",
    "north",
    "operator",
    "technology",
    "environment",
    "device",
    "rsrp",
    "down",
    "up",
    "generated",
]

#: Fixed categories, sorted: ``pd.factorize(sort=True)`` over them orders groups as over text.
_VOCABULARIES = {
    "operator": sorted(OPERATORS),
    "technology": sorted(TECHNOLOGIES),
    "environment": sorted(ENVIRONMENTS),
}
_WORK = CRS.from_user_input(WORK_CRS)


def scan_measurements(
    sources: Sequence[tuple[str | Path, bool]],
    quarantine: Quarantine,
    *,
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
) -> pd.DataFrame:
    """Read measurement files (``(path, generated)`` pairs) batch by batch into one compact table.

    Rows are checked exactly as :func:`~coverage.mobile.measurements.read_measurements` checks them
    and bad ones quarantined; the result has :data:`COMPACT_COLUMNS` (``time`` as UTC datetimes,
    ``east``/``north`` EPSG:25832 float64, ``operator``/``technology``/``environment``/``device``
    categorical, ``rsrp``/``down``/``up`` float32, ``generated`` bool), which
    :func:`~coverage.mobile.aggregate.aggregate` and the model's calibration take as they are.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    reference = (now or datetime.now(UTC)).astimezone(UTC)
    columns = _Columns()
    for path, generated in sources:
        path = Path(path)
        if path.suffix.lower() not in (".parquet", ".geoparquet", ".pq"):
            columns.add(read_measurements(path, quarantine, generated=generated, now=reference))
            continue
        if not _batch_readable(path):
            columns.add(read_measurements(path, quarantine, generated=generated, now=reference))
            continue
        for frame, lines, east, north in _parquet_batches(path, batch_rows):
            frame = canonical_columns(frame, path, has_geometry=east is not None)
            valid = validate_rows(
                frame, lines, east, north, path, quarantine, generated, reference, text=False
            )
            del frame
            columns.add(valid)
    return columns.frame()


def _parquet_batches(
    path: Path, batch_rows: int
) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Each batch's other columns, 1-based row numbers and geometry position (EPSG:25832)."""
    if not path.exists():
        raise SourceError(path, "measurement file not found")
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise SourceError(path, f"measurement file cannot be read as Parquet: {exc}") from None
    if parquet.metadata.num_rows == 0:
        raise SourceError(path, "measurement file has no rows")
    column, transformer = _geometry_column(path, parquet.schema_arrow)
    start = 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            lines = np.arange(start + 1, start + batch.num_rows + 1, dtype="int64")
            east = north = None
            if column is not None:
                east, north = _points(batch.column(column), path, start)
                if transformer is not None:
                    east, north = transformer.transform(east, north)
                batch = batch.drop_columns([column])
            start += batch.num_rows
            yield _dictionary_encoded(batch).to_pandas(), lines, east, north
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(path, f"measurement file cannot be read as Parquet: {exc}") from None


def _batch_readable(path: Path) -> bool:
    """False for GeoParquet whose geometry is not WKB (GeoArrow): geopandas reads those whole."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"geo")
        spec = json.loads(raw)["columns"][json.loads(raw)["primary_column"]] if raw else {}
    except Exception:  # unreadable or odd metadata: the batch reader names the problem
        return True
    return str(spec.get("encoding", "WKB")).upper() == "WKB"


def _dictionary_encoded(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text columns as dictionaries (categoricals in pandas): one Python string per distinct value.

    Devices, operators and technologies repeat; Arrow encodes them in C++ far faster than pandas
    can turn a million Arrow strings into Python objects.
    """
    columns = [
        pc.dictionary_encode(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=None, names=batch.schema.names)


def _geometry_column(path: Path, schema: pa.Schema) -> tuple[str | None, Transformer | None]:
    """The GeoParquet primary column and a transformer to EPSG:25832 (None when already there)."""
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        return None, None
    try:
        geo = json.loads(raw)
        column = geo["primary_column"]
        spec = geo["columns"][column]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(path, f"GeoParquet metadata is not valid: {exc}") from None
    # GeoParquet: an absent crs means OGC:CRS84; an explicit null means unknown.
    crs = spec["crs"] if "crs" in spec else "OGC:CRS84"
    if crs is None:
        raise SourceError(path, "measurement geometry has no CRS; expected EPSG:25832 or 4326")
    source = CRS.from_user_input(crs)
    if source.equals(_WORK):
        return column, None
    return column, Transformer.from_crs(source, _WORK, always_xy=True)


def _points(values: pa.Array, path: Path, start: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of WKB points; a non-point geometry stops the file (as the whole-file reader does)."""
    fast = _little_endian_points(values)
    if fast is not None:
        return fast
    geoms = shapely.from_wkb(values.to_numpy(zero_copy_only=False))
    not_point = (shapely.get_type_id(geoms) != 0) & ~shapely.is_missing(geoms)
    if not_point.any():
        row = start + int(np.flatnonzero(not_point)[0]) + 1
        raise SourceError(path, f"row {row}: geometry is not a point; expected point samples")
    return shapely.get_x(geoms).astype("float64"), shapely.get_y(geoms).astype("float64")


def _little_endian_points(values: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode 2D little-endian WKB points straight from the Arrow buffer (None: use shapely).

    Such a point is 21 bytes: byte order, type 1, x, y. Reading them as a numpy view avoids a
    Python bytes object and a shapely geometry per row (about 20 times faster).
    """
    if values.null_count or not isinstance(values, pa.BinaryArray) or len(values) == 0:
        return None
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype="int32")[
        values.offset : values.offset + len(values) + 1
    ]
    if not (np.diff(offsets) == 21).all():
        return None
    data = np.frombuffer(data_buffer, dtype="uint8")[offsets[0] : offsets[-1]].reshape(-1, 21)
    kinds = np.ascontiguousarray(data[:, 1:5]).view("<u4").ravel()
    if not ((data[:, 0] == 1).all() and (kinds == 1).all()):
        return None
    x = np.ascontiguousarray(data[:, 5:13]).view("<f8").ravel()
    y = np.ascontiguousarray(data[:, 13:21]).view("<f8").ravel()
    return x.astype("float64"), y.astype("float64")


class _Columns:
    """Validated batches appended as compact arrays; device names kept once, as codes."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in COMPACT_COLUMNS}
        self.devices = pd.Index([], dtype=object)

    def add(self, frame: pd.DataFrame) -> None:
        """Append one validated batch (:data:`MEASUREMENT_COLUMNS`)."""
        parts = self.parts
        parts["time"].append(
            frame["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        )
        for name in ("east", "north"):
            parts[name].append(frame[name].to_numpy(dtype="float64"))
        for name, categories in _VOCABULARIES.items():
            values = frame[name]
            if isinstance(values.dtype, pd.CategoricalDtype):
                # Recode through the categories (a handful), not the rows.
                lookup = pd.Index(categories).get_indexer(values.cat.categories)
                codes = np.append(lookup, -1)[values.cat.codes.to_numpy()]
            else:
                codes = pd.Categorical(values, categories=categories).codes
            parts[name].append(codes.astype("int8"))
        parts["device"].append(self._device_codes(frame["device"]))
        for name in ("rsrp", "down", "up"):
            parts[name].append(frame[name].to_numpy(dtype="float32", na_value=np.nan))
        parts["generated"].append(frame["generated"].to_numpy(dtype=bool))

    def _device_codes(self, devices: pd.Series) -> np.ndarray:
        """Codes into one device list over all batches and files (new names appended)."""
        codes, uniques = pd.factorize(devices)
        uniques = np.asarray(uniques, dtype=object)
        known = self.devices.get_indexer(uniques)
        new = known < 0
        if new.any():
            known[new] = len(self.devices) + np.arange(int(new.sum()))
            self.devices = self.devices.append(pd.Index(uniques[new], dtype=object))
        return known[codes].astype("int32")

    def frame(self) -> pd.DataFrame:
        """The compact table; each column is joined and its batch arrays freed in turn."""
        out: dict[str, object] = {}
        for name in COMPACT_COLUMNS:
            parts = self.parts[name]
            values = np.concatenate(parts) if parts else np.empty(0, dtype=_EMPTY[name])
            parts.clear()
            if name == "time":
                out[name] = pd.to_datetime(values, utc=True)
            elif name in _VOCABULARIES:
                out[name] = pd.Categorical.from_codes(values, categories=_VOCABULARIES[name])
            elif name == "device":
                out[name] = pd.Categorical.from_codes(values, categories=self.devices)
            else:
                out[name] = values
        return pd.DataFrame(out, columns=COMPACT_COLUMNS, copy=False)


_EMPTY = {
    "time": "datetime64[ns]",
    "east": "float64",
    "north": "float64",
    "operator": "int8",
    "technology": "int8",
    "environment": "int8",
    "device": "int32",
    "rsrp": "float32",
    "down": "float32",
    "up": "float32",
    "generated": "bool",
}


__all__ = ["BATCH_ROWS", "COMPACT_COLUMNS", "scan_measurements"]
