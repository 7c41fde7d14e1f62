"""A vectorised Mapbox Vector Tile (MVT 2.1) writer for one-layer tiles.

Why not ``mapbox_vector_tile.encode``: it builds every feature, tag and coordinate through Python
objects. On a region-size release a zoom-8 zones tile holds ~10,000 polygons and took 0.8–2.5 s
that way, 80 % of it in per-property and per-vertex Python. Here the same protobuf bytes come from
numpy: properties are factorised once per layer into integer codes with their ``Value`` messages
pre-encoded, geometry commands are computed for all rings at once, and the whole ``features`` field
is one array of varints (every field tag of a feature is below 128, so tags and lengths are varints
too) written out in a single pass. ``mapbox_vector_tile.decode`` reads the result; the tests check it
against ``mapbox_vector_tile.encode`` feature for feature.

Geometry rules (MVT 2.1 §4.3): coordinates are integers of the tile grid with y running down;
repeated points are dropped; rings with fewer than three points or no area are dropped (with their
holes, when it is the exterior); exterior rings get a positive surveyor's-formula area, holes a
negative one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from coverage.arrowtext import take_sorted

#: MVT geometry types.
POINT, POLYGON = 1, 3

_MOVE_TO_1 = (1 << 3) | 1  # MoveTo, count 1
_CLOSE_PATH = (1 << 3) | 7  # ClosePath, count 1
_LINE_TO = 2


def varint_lengths(values: np.ndarray) -> np.ndarray:
    """Bytes each unsigned value takes as a protobuf varint."""
    v = np.asarray(values, dtype=np.uint64)
    n = np.ones(v.shape, dtype=np.int64)
    for j in range(1, 10):
        n += v >= np.uint64(1 << (7 * j))
    return n


def varints(values: np.ndarray) -> bytes:
    """Unsigned values as concatenated protobuf varints."""
    v = np.asarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    n = varint_lengths(v)
    width = int(n.max())
    shifts = np.arange(width, dtype=np.uint64) * np.uint64(7)
    groups = ((v[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    column = np.arange(width)[None, :]
    groups |= ((column < (n[:, None] - 1)) * 0x80).astype(np.uint8)
    return groups[column < n[:, None]].tobytes()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(d: np.ndarray) -> np.ndarray:
    d = d.astype(np.int64)
    return ((d << 1) ^ (d >> 63)).astype(np.uint64)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return bytes([tag]) + _varint(len(payload)) + payload


def value_message(value: Any) -> bytes:
    """An MVT ``Value`` message for a str, bool, int or float."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return b"\x38" + (b"\x01" if value else b"\x00")  # bool_value = 7
    if isinstance(value, int):
        if value >= 0:
            return b"\x28" + _varint(value)  # uint_value = 5
        return b"\x30" + _varint((value << 1) ^ (value >> 63))  # sint_value = 6
    if isinstance(value, float):
        return b"\x19" + struct.pack("<d", value)  # double_value = 3
    return _field(0x0A, str(value).encode("utf-8"))  # string_value = 1


#: Columns with at most this many distinct values keep their ``Value`` messages encoded; columns
#: of ids and address texts (one value per feature) encode the few a tile uses when it is drawn.
PRE_ENCODED_VALUES = 65_536


class Values(Protocol):
    """A column's values held outside Python objects (Arrow text, or texts derived on demand): a
    tile asks only for the few it shows."""

    def take(self, codes: np.ndarray) -> pa.Array:
        """The values of ``codes`` (sorted, distinct, none negative)."""
        ...


@dataclass
class ArrowValues:
    """Values in an Arrow array or chunked array (e.g. a table's own column, not a copy)."""

    array: pa.Array | pa.ChunkedArray

    @classmethod
    def from_series(cls, series: pd.Series) -> ArrowValues:
        """A text column's values: the column's own Arrow buffers when it is Arrow-backed (pandas'
        ``str``), else converted."""
        to_arrow = getattr(series.array, "__arrow_array__", None)
        array = to_arrow() if to_arrow is not None else None
        if array is None or array.type not in (pa.string(), pa.large_string()):
            text = series.astype("string").to_numpy(dtype=object, na_value=None)
            array = pa.array(text, pa.string())
        return cls(array)

    def take(self, codes: np.ndarray) -> pa.Array:
        """The values of ``codes`` (sorted), chunk by chunk (:func:`coverage.arrowtext.take_sorted`)."""
        return take_sorted(self.array, codes)


@dataclass
class Column:
    """One property: per feature the code of its value (-1: none) and the distinct values.

    ``uniques`` is a list of the distinct values, or for columns with a value per feature (ids,
    address texts) a :class:`Values` source the codes index, e.g. a table's own id column with
    each feature's table row as its code: nothing is copied, and a tile converts only what it
    uses. Features with equal values must have equal codes
    (:func:`coverage.tiles.addresstexts.row_codes`), or a tile would carry the value twice.
    """

    name: str
    codes: np.ndarray
    uniques: list[Any] | Values
    framed: list[bytes] | None = None
    """The ``Value`` message of each unique, framed as a layer's ``values`` field; kept for
    columns of at most :data:`PRE_ENCODED_VALUES` values."""

    @classmethod
    def from_series(cls, name: str, series: pd.Series) -> Column:
        """Factorise a column. Floats are rounded to 0.01 (float32 speeds: 33.3 is stored as
        33.2999992..., the data said 33.3); NaN, NA and None mean "no value" (MVT has no null,
        the key is left out of the feature)."""
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype):
            codes, uniques = pd.factorize(series.astype("boolean"), use_na_sentinel=True)
            values: list[Any] = [bool(u) for u in np.asarray(uniques, dtype=object)]
        elif pd.api.types.is_integer_dtype(dtype):
            codes, uniques = pd.factorize(series.astype("Int64"), use_na_sentinel=True)
            values = [int(u) for u in np.asarray(uniques, dtype=object)]
        elif pd.api.types.is_float_dtype(dtype):
            numbers = np.round(series.to_numpy(dtype="float64", na_value=np.nan), 2)
            numbers[~np.isfinite(numbers)] = np.nan
            codes, uniques = pd.factorize(numbers, use_na_sentinel=True)
            values = uniques.tolist()
        elif isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) <= PRE_ENCODED_VALUES:
            # Factorised on its codes, with no text per feature; the values spelled as
            # ``astype("string")`` spells them.
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            values = [str(u) for u in np.asarray(uniques, dtype=object)]
        else:
            codes, uniques = pd.factorize(series.astype("string"), use_na_sentinel=True)
            if len(uniques) > PRE_ENCODED_VALUES:
                # One value per feature (cell names, ids): kept as Arrow text, a buffer rather
                # than hundreds of thousands of Python strings; a tile takes the few it shows.
                text = ArrowValues(pa.array(uniques, pa.string()))
                return cls(name, np.asarray(codes, dtype=np.int32), text)
            # one conversion for all values: iterating an Arrow array costs ~1 µs per element
            values = np.asarray(uniques, dtype=object).tolist()
        column = cls(name, _smallest(np.asarray(codes)), values)
        if len(values) <= PRE_ENCODED_VALUES:
            column.framed = [_field(0x22, value_message(v)) for v in values]
        return column

    def encoded(self, used: np.ndarray) -> bytes:
        """The framed ``Value`` messages of the distinct values ``used`` (sorted codes), one after
        the other."""
        if self.framed is not None:
            return b"".join([self.framed[u] for u in used.tolist()])
        if isinstance(self.uniques, list):
            values = [self.uniques[u] for u in used.tolist()]
        else:
            taken = self.uniques.take(used)
            if taken.type in (pa.string(), pa.large_string()) and taken.null_count == 0:
                return framed_texts(taken)
            values = taken.to_pylist()
        return b"".join([_field(0x22, value_message(v)) for v in values])

    def same_as(self, other: Column) -> bool:
        """Whether two columns encode every feature alike (same name, codes and encoded values):
        e.g. a speed column under two rule sets, which one object can then serve."""
        if self is other:
            return True
        if self.name != other.name or self.framed is None or self.framed != other.framed:
            return False  # a column of a value source is only ever the same as itself
        return self.codes.dtype == other.codes.dtype and np.array_equal(self.codes, other.codes)


def framed_texts(texts: pa.Array) -> bytes:
    """The framed ``Value`` messages (``string_value``) of Arrow texts without nulls, one after the
    other, as :func:`value_message` and a ``values`` field frame them: built with numpy from the
    Arrow buffers rather than through a Python string per value (ids and address texts are a
    third of a zoom 14 address tile's time that way)."""
    n = len(texts)
    if n == 0:
        return b""
    wide = texts.type == pa.large_string()
    offsets = np.frombuffer(texts.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[texts.offset : texts.offset + n + 1].astype(np.int64)
    size = np.diff(offsets)
    message = 1 + varint_lengths(size) + size  # string_value tag, length, UTF-8
    head = np.empty((n, 4), dtype=np.uint64)
    head[:, 0], head[:, 1], head[:, 2], head[:, 3] = 0x22, message, 0x0A, size
    head_bytes = np.frombuffer(varints(head.ravel()), dtype=np.uint8)
    head_size = 2 + varint_lengths(message) + varint_lengths(size)
    start = np.concatenate([[0], np.cumsum(head_size + size)[:-1]]).astype(np.int64)
    out = np.empty(int((head_size + size).sum()), dtype=np.uint8)
    out[_ranges(start, head_size)] = head_bytes
    data = texts.buffers()[2]
    if data is not None and size.sum() > 0:
        body = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
        out[_ranges(start + head_size, size)] = body
    return out.tobytes()


def _ranges(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The positions ``start[i], ..., start[i] + length[i] - 1`` for every i, concatenated."""
    first = np.repeat(start - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return first + np.arange(int(length.sum()))


def _smallest(codes: np.ndarray) -> np.ndarray:
    """Codes in the smallest signed integer type that holds them (-1 included): most properties
    have a handful of values, and a region layer has 850,000 features per column."""
    top = int(codes.max()) if len(codes) else 0
    for dtype in (np.int8, np.int16):
        if top <= np.iinfo(dtype).max:
            return codes.astype(dtype)
    return codes.astype(np.int32)


@dataclass
class PropertyTable:
    """A layer's properties: its columns and their keys, framed once."""

    columns: list[Column]

    def __post_init__(self) -> None:
        self.keys = [c.name for c in self.columns]
        self.framed_keys = b"".join(_field(0x1A, k.encode("utf-8")) for k in self.keys)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> PropertyTable:
        """Every column of a frame (geometry excluded) as a property."""
        geometry = getattr(frame, "_geometry_column_name", None)
        return cls([Column.from_series(str(c), frame[c]) for c in frame.columns if c != geometry])


def point_commands(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Commands of one point per feature at integer tile coordinates: (stream, lengths)."""
    n = len(x)
    stream = np.empty((n, 3), dtype=np.uint64)
    stream[:, 0] = _MOVE_TO_1
    stream[:, 1] = _zigzag(x)
    stream[:, 2] = _zigzag(y)
    return stream.ravel(), np.full(n, 3, dtype=np.int64)


def polygon_commands(
    geoms: np.ndarray, origin: tuple[float, float], scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Commands of (multi)polygons given in map units: (stream, lengths of kept features, keep).

    A map coordinate goes to ``((x - origin_x) * scale, (origin_y - y) * scale)``, rounded.
    ``keep`` marks the input features that still have a polygon on the tile grid.
    """
    n = len(geoms)
    parts, part_feature = shapely.get_parts(geoms, return_index=True)
    polygonal = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    parts, part_feature = parts[polygonal], part_feature[polygonal]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    empty = np.zeros(0, dtype=np.uint64)
    if len(coords) == 0:
        return empty, np.zeros(0, dtype=np.int64), np.zeros(n, dtype=bool)
    xy = np.empty(coords.shape, dtype=np.int64)
    xy[:, 0] = np.rint((coords[:, 0] - origin[0]) * scale)
    xy[:, 1] = np.rint((origin[1] - coords[:, 1]) * scale)

    # Drop repeated points, then each ring's closing point (MVT rings are implicitly closed).
    new_ring = np.r_[True, coord_ring[1:] != coord_ring[:-1]]
    keep = new_ring | np.r_[True, (xy[1:] != xy[:-1]).any(axis=1)]
    xy, coord_ring = xy[keep], coord_ring[keep]
    last = np.r_[coord_ring[1:] != coord_ring[:-1], True]
    xy, coord_ring = xy[~last], coord_ring[~last]

    n_rings = len(rings)
    size = np.bincount(coord_ring, minlength=n_rings)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    nxt = np.arange(len(xy)) + 1
    wrap = nxt == (start + size)[coord_ring]
    nxt[wrap] = start[coord_ring[wrap]]
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    area2 = np.bincount(coord_ring, weights=x * y[nxt] - x[nxt] * y, minlength=n_rings)

    first_of_part = np.r_[True, ring_part[1:] != ring_part[:-1]]
    usable = (size >= 3) & (area2 != 0)
    # A polygon whose exterior collapsed goes entirely, holes included.
    usable &= usable[np.flatnonzero(first_of_part)][np.cumsum(first_of_part) - 1]
    reverse = usable & np.where(first_of_part, area2 < 0, area2 > 0)

    in_usable = usable[coord_ring]
    xy, coord_ring = xy[in_usable], coord_ring[in_usable]
    if len(xy) == 0:  # everything collapsed on the grid
        return empty, np.zeros(0, dtype=np.int64), np.zeros(n, dtype=bool)
    size = np.where(usable, size, 0)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    pos = np.arange(len(xy))
    flip = reverse[coord_ring]
    pos[flip] = (2 * start[coord_ring[flip]] + size[coord_ring[flip]] - 1) - pos[flip]
    xy = xy[np.argsort(pos, kind="stable")] if flip.any() else xy

    ring_feature = part_feature[ring_part]
    coord_feature = ring_feature[coord_ring]
    first_coord = np.r_[True, coord_feature[1:] != coord_feature[:-1]]
    delta = np.diff(xy, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    delta[first_coord] = xy[first_coord]  # the cursor starts at (0, 0) in every feature

    used = np.flatnonzero(usable)
    k = size[used]
    length = 2 * k + 3
    ring_start = np.concatenate([[0], np.cumsum(length)[:-1]])
    stream = np.empty(int(length.sum()), dtype=np.uint64)
    stream[ring_start] = _MOVE_TO_1
    stream[ring_start + 3] = (_LINE_TO | ((k - 1) << 3)).astype(np.uint64)
    stream[ring_start + length - 1] = _CLOSE_PATH
    rank = np.arange(len(xy)) - np.repeat(np.concatenate([[0], np.cumsum(k)[:-1]]), k)
    at = np.repeat(ring_start, k) + 1 + 2 * rank + (rank >= 1)
    stream[at] = _zigzag(delta[:, 0])
    stream[at + 1] = _zigzag(delta[:, 1])

    per_feature = np.bincount(ring_feature[used], weights=length, minlength=n).astype(np.int64)
    kept = per_feature > 0
    return stream, per_feature[kept], kept


def encode_layer(
    name: str,
    geom_type: int,
    stream: np.ndarray,
    lengths: np.ndarray,
    props: PropertyTable,
    rows: np.ndarray,
    extent: int = 4096,
) -> bytes:
    """A one-layer MVT tile: features ``rows`` of ``props`` with the given geometry commands."""
    n = len(rows)
    k = len(props.columns)
    codes = np.empty((n, k), dtype=np.int32)
    value_index = np.zeros((n, k), dtype=np.int64)
    values: list[bytes] = []
    n_values = 0
    for j, column in enumerate(props.columns):
        codes[:, j] = column.codes[rows]
        used = np.unique(codes[:, j][codes[:, j] >= 0])
        value_index[:, j] = n_values + np.searchsorted(used, codes[:, j])
        n_values += len(used)
        values.append(column.encoded(used))
    present = codes >= 0
    pairs = np.empty((n, 2 * k), dtype=np.uint64)
    pairs[:, 0::2] = np.arange(k, dtype=np.uint64)
    pairs[:, 1::2] = value_index
    tags = pairs[np.repeat(present, 2, axis=1)]
    t = 2 * present.sum(axis=1)

    tag_feature = np.repeat(np.arange(n), t)
    geom_feature = np.repeat(np.arange(n), lengths)
    tag_bytes = np.bincount(tag_feature, weights=varint_lengths(tags), minlength=n).astype(np.int64)
    geom_bytes = np.bincount(geom_feature, weights=varint_lengths(stream), minlength=n).astype(
        np.int64
    )
    feature_bytes = (
        1 + varint_lengths(tag_bytes) + tag_bytes + 2 + 1 + varint_lengths(geom_bytes) + geom_bytes
    )
    # Per feature: [features tag, len, tags tag, len, tags..., type tag, type, geometry tag, len,
    # commands...]: all varints.
    m = 8 + t + lengths
    s = np.concatenate([[0], np.cumsum(m)[:-1]])
    out = np.empty(int(m.sum()), dtype=np.uint64)
    out[s] = 0x12
    out[s + 1] = feature_bytes
    out[s + 2] = 0x12
    out[s + 3] = tag_bytes
    tag_rank = np.arange(len(tags)) - np.repeat(np.concatenate([[0], np.cumsum(t)[:-1]]), t)
    out[s[tag_feature] + 4 + tag_rank] = tags
    h = s + 4 + t
    out[h] = 0x18
    out[h + 1] = geom_type
    out[h + 2] = 0x22
    out[h + 3] = geom_bytes
    geom_rank = np.arange(len(stream)) - np.repeat(
        np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths
    )
    out[h[geom_feature] + 4 + geom_rank] = stream
    layer = b"".join(
        [
            b"\x78\x02",  # version = 2
            _field(0x0A, name.encode("utf-8")),
            varints(out),
            props.framed_keys,
            b"".join(values),
            b"\x28" + _varint(extent),
        ]
    )
    return _field(0x1A, layer)


__all__ = [
    "POINT",
    "POLYGON",
    "PRE_ENCODED_VALUES",
    "ArrowValues",
    "Column",
    "PropertyTable",
    "Values",
    "encode_layer",
    "framed_texts",
    "point_commands",
    "polygon_commands",
    "value_message",
    "varint_lengths",
    "varints",
]
