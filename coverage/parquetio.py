"""Release tables written one row group at a time from lean in-memory frames.

A national build holds millions of rows. Kept the way a release stores them (one Python shapely
point per address, every low-cardinality text column spelled out per row, DDKN cell names as
strings), the address table alone is ~2 GB before the mapping join starts. The build keeps a lean
frame instead (coordinates, categoricals) and this module turns it into exactly the file
``to_parquet`` would have written, one row group at a time:

* the schema, with its pandas and GeoParquet metadata, is the one geopandas / pandas write for a
  one-row sample of the release's shape, so readers see the same columns, dtypes and ``geo`` entry;
* columns derived from others (point geometry as WKB, the covering ``bbox``, cell names) are
  computed per row group from numpy arrays and dropped after it is written.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

#: Rows per row group: pyarrow's default, so files keep the layout ``to_parquet`` gave them.
ROW_GROUP_ROWS = 1 << 20

#: Columns computed per row group from the slice of the frame being written.
Derive = Callable[[pd.DataFrame], Mapping[str, pa.Array]]

# A little-endian 2D WKB point: byte order, geometry type 1, x, y (21 bytes, no padding).
_WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])


@dataclass(frozen=True)
class RowGroups:
    """A table to write one row group at a time: the stored schema and the pieces, lazily made."""

    schema: pa.Schema
    pieces: Iterator[pa.Table]

    @property
    def geo(self) -> bool:
        """Whether the table is GeoParquet (its schema carries ``geo`` metadata)."""
        return b"geo" in (self.schema.metadata or {})


def concat_frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several files as one frame; categoricals stay categoricals (categories united).

    ``pd.concat`` turns categoricals with different categories (one source file name each) into
    text with one string per row; uniting the categories keeps them codes. One part is returned
    as it is, without a copy.
    """
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    frame = pd.concat(parts, ignore_index=True)
    for column in parts[0].columns:
        if all(isinstance(p[column].dtype, pd.CategoricalDtype) for p in parts):
            united = union_categoricals([p[column] for p in parts], sort_categories=True)
            frame[column] = pd.Categorical(united)
    return frame


def schema_of(sample: pd.DataFrame) -> pa.Schema:
    """The Arrow schema, metadata included, that the release writer's ``to_parquet`` gives ``sample``.

    ``sample`` is a few rows in the release's shape (a GeoDataFrame for a GeoParquet table). The
    sample is written to memory and its schema read back, so pandas' and geopandas' own metadata
    are what ends up in the file, not a hand-made imitation.
    """
    buffer = io.BytesIO()
    if hasattr(sample, "geometry"):
        sample.to_parquet(buffer, index=False, write_covering_bbox=True)
    else:
        sample.to_parquet(buffer, index=False)
    return pq.read_schema(pa.BufferReader(buffer.getvalue()))


def with_extent(schema: pa.Schema, x: np.ndarray, y: np.ndarray) -> pa.Schema:
    """The schema with its GeoParquet ``bbox`` set to the extent of all points (x, y)."""
    meta = dict(schema.metadata or {})
    geo = json.loads(meta[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    if len(x):
        column["bbox"] = [float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y))]
    else:
        column.pop("bbox", None)
    meta[b"geo"] = json.dumps(geo).encode()
    return schema.with_metadata(meta)


def point_wkb(x: np.ndarray, y: np.ndarray) -> pa.BinaryArray:
    """Points as WKB, built in numpy: byte-for-byte what ``shapely.to_wkb`` writes for 2D points."""
    n = len(x)
    records = np.empty(n, dtype=_WKB_POINT)
    records["order"] = 1
    records["kind"] = 1
    records["x"] = x
    records["y"] = y
    offsets = np.arange(0, (n + 1) * _WKB_POINT.itemsize, _WKB_POINT.itemsize, dtype="int32")
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(records.view("u1"))]
    )


def point_bbox(x: np.ndarray, y: np.ndarray, kind: pa.DataType) -> pa.StructArray:
    """The GeoParquet covering column for points: each row's box is the point itself."""
    arrays = [pa.array(np.asarray(v, dtype="float64")) for v in (x, y, x, y)]
    return pa.StructArray.from_arrays(arrays, fields=list(kind))


def row_groups(
    frame: pd.DataFrame,
    schema: pa.Schema,
    derive: Derive | None = None,
    rows: int = ROW_GROUP_ROWS,
) -> RowGroups:
    """The frame as Arrow tables of ``rows`` rows each, every column cast to the schema's type.

    Columns named in the schema but absent from the frame come from ``derive`` (called on each
    slice). Categoricals decode to text here, one row group at a time, never for the whole frame.
    """
    return RowGroups(schema, _pieces(frame, schema, derive, rows))


def _pieces(
    frame: pd.DataFrame, schema: pa.Schema, derive: Derive | None, rows: int
) -> Iterator[pa.Table]:
    for start in range(0, len(frame), rows):
        part = frame.iloc[start : start + rows]
        derived = derive(part) if derive is not None else {}
        arrays = []
        for field in schema:
            values = derived[field.name] if field.name in derived else pa.array(part[field.name])
            if values.type != field.type:
                values = values.cast(field.type)
            arrays.append(values)
        yield pa.Table.from_arrays(arrays, schema=schema)


__all__ = [
    "ROW_GROUP_ROWS",
    "Derive",
    "RowGroups",
    "concat_frames",
    "point_bbox",
    "point_wkb",
    "row_groups",
    "schema_of",
    "with_extent",
]
