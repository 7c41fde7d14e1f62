"""Text columns processed inside Arrow (RE2 regexes, trimming) without Python string objects.

pandas routes some string operations (a regex replace with back-references, ``zfill``) through
Python's ``re`` one value at a time; on millions of register rows that is the difference between
seconds and a minute. These helpers call Arrow's compute kernels directly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def take_sorted(values: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``values[rows]`` for increasing ``rows``, taken chunk by chunk: ``ChunkedArray.take`` joins
    the chunks first, copying the whole column (35 MB of ids at 850,000 addresses) to take a few
    of its values."""
    if not isinstance(values, pa.ChunkedArray):
        return values.take(pa.array(rows, pa.int64()))
    rows = np.asarray(rows, dtype=np.int64)
    ends = np.cumsum([len(c) for c in values.chunks], dtype=np.int64)
    cut = np.searchsorted(rows, ends, side="left")
    pieces = []
    lo = 0
    for i, hi in enumerate(cut.tolist()):
        if hi > lo:
            start = int(ends[i - 1]) if i else 0
            pieces.append(values.chunk(i).take(pa.array(rows[lo:hi] - start, pa.int64())))
        lo = hi
    if not pieces:
        return pa.array([], values.type)
    return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)


def take(values: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``values[rows]`` in any order of ``rows``, without joining a chunked array's chunks."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    taken = take_sorted(values, rows[order])
    return taken.take(pa.array(np.argsort(order, kind="stable"), pa.int64()))


def to_arrow(values: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings (zero-copy for Arrow-backed Series); nulls become ''."""
    if len(values) == 0:
        return pa.chunked_array([pa.array([], type=pa.string())])
    arr = pa.chunked_array([pa.array(values.astype("string[pyarrow]"), type=pa.string())])
    return pc.fill_null(arr, pa.scalar("", type=pa.string()))


def to_arrow_nullable(values: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings, keeping nulls."""
    return pa.chunked_array([pa.array(values.astype("string[pyarrow]"), type=pa.string())])


def from_arrow(arr: pa.ChunkedArray | pa.Array, index: pd.Index | None = None) -> pd.Series:
    """An Arrow string array as an Arrow-backed pandas Series."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=index)


def fullmatch(values: pd.Series, pattern: str) -> np.ndarray:
    """Boolean array: the whole value matches the RE2 pattern."""
    hit = pc.match_substring_regex(to_arrow(values), f"^(?:{pattern})$")
    return hit.to_numpy(zero_copy_only=False).astype(bool)


def replace(values: pd.Series, pattern: str, replacement: str) -> pd.Series:
    """RE2 replace of every match; ``\\1`` in the replacement refers to groups."""
    out = pc.replace_substring_regex(to_arrow(values), pattern, replacement)
    return from_arrow(out, values.index)


def zfill(values: pd.Series, width: int) -> pd.Series:
    """Left-pad with zeros to ``width`` (like ``str.zfill`` for unsigned digits)."""
    out = pc.utf8_lpad(to_arrow(values), width=width, padding="0")
    return from_arrow(out, values.index)


def codes(values: pd.Series | pa.ChunkedArray) -> np.ndarray:
    """Integer code per value, hashed inside Arrow: equal values get equal codes, and all nulls
    share one code of their own (like ``pandas.Series.duplicated`` treats missing values)."""
    arr = values if isinstance(values, pa.ChunkedArray) else to_arrow_nullable(values)
    if len(arr) == 0:
        return np.zeros(0, dtype="int64")
    encoded = pc.dictionary_encode(arr).combine_chunks()
    out = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), "int64")
    out[out < 0] = len(encoded.dictionary)
    return out


def on_distinct(values: pd.Series, transform: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray:
    """Apply a string transform to each distinct value once, then spread the results.

    Registers repeat a few thousand street names, house numbers and postcodes over millions of rows;
    folding the dictionary instead of every row is what keeps key building at a fraction of a second.
    """
    arr = to_arrow_nullable(values)
    if len(arr) == 0:
        return transform(arr)
    encoded = pc.dictionary_encode(arr).combine_chunks()
    folded = transform(encoded.dictionary)
    return pa.chunked_array([pc.take(folded, encoded.indices)])


def dictionary(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Integer code per row and the distinct values the codes index; nulls read as ''.

    Categoricals give their codes as they are; text is hashed inside Arrow. Either way no Python
    object is made per row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = pa.array(values.cat.categories.astype("string[pyarrow]"), type=pa.string())
        codes = values.cat.codes.to_numpy().astype("int32")
        codes[codes < 0] = len(categories)
        return codes, pa.concat_arrays([categories, pa.array([""], type=pa.string())])
    arr = pa.chunked_array([pa.array(values.astype("string[pyarrow]"))])
    encoded = pc.dictionary_encode(pc.fill_null(arr, "")).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary


def shared_codes(
    left: pd.Series, right: pd.Series, transform: Callable[[pd.Series], pd.Series]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``transform(value)`` for two columns in one code space; -1 where it gives <NA>.

    Equal transformed values get equal codes on both sides, so a join on several text keys becomes
    a join on integers. The transform (a folding, a canonical house number) runs once per distinct
    value of each side.
    """
    left_codes, left_values = dictionary(left)
    right_codes, right_values = dictionary(right)
    both = from_arrow(pa.concat_arrays([left_values, right_values.cast(left_values.type)]))
    encoded = pc.dictionary_encode(to_arrow_nullable(transform(both))).combine_chunks()
    code = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), "int64")
    return code[: len(left_values)][left_codes], code[len(left_values) :][right_codes]
