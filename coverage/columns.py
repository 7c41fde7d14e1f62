"""Columns of a table read one row at a time as plain Python values, without pandas per row.

An answer reads a few dozen values from one row of tables with 850,000 rows. ``DataFrame.iloc[row]``
builds a Series of every column (boxing Arrow strings one by one) and costs ~0.1 ms a call; reading
from numpy arrays prepared once costs well under a microsecond a value. Texts become codes into a
list of their distinct values (addresses repeat streets, towns and reason sentences), so the prepared
columns are small beside the table they come from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

Getter = Callable[[int], Any]
#: Above this many distinct texts a column keeps them in Arrow rather than as Python strings.
_MANY = 30_000


def _texts(series: pd.Series) -> Getter:
    """Codes into the distinct values, with None for missing (code -1 indexes the last item)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # The categorical's own codes (a read-only view); ``series.cat.codes`` is a copy, and the
        # service reads a dozen such columns of 850,000 rows per rule set (~35 MB of copies).
        codes = cast(pd.Categorical, series.array).codes
        values: list[Any] = [str(v) for v in series.cat.categories]
    else:
        raw, uniques = pd.factorize(series, use_na_sentinel=True)
        if len(uniques) > _MANY:
            # Mostly distinct (grid cell names): the distinct texts stay one Arrow array instead
            # of hundreds of thousands of Python strings; reading one costs a microsecond.
            many = pa.array(uniques, type=pa.large_string())
            wide = raw.astype(np.int32)
            return lambda row: None if (c := wide[row]) < 0 else many[int(c)].as_py()
        codes = raw.astype(np.int16)
        values = [str(v) for v in uniques]
    values.append(None)
    return lambda row: values[codes[row]]


def _floats(series: pd.Series) -> Getter:
    if isinstance(series.dtype, np.dtype):  # float32 stays float32: the values read the same
        values = series.to_numpy()
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)

    def get(row: int) -> float | None:
        v = float(values[row])
        return None if math.isnan(v) else v

    return get


def _integers(series: pd.Series) -> Getter:
    missing = series.isna().to_numpy(dtype=bool)
    values = series.fillna(0).to_numpy(dtype=np.int64)
    if not missing.any():
        return lambda row: int(values[row])
    return lambda row: None if missing[row] else int(values[row])


def _booleans(series: pd.Series) -> Getter:
    missing = series.isna().to_numpy(dtype=bool)
    values = series.fillna(False).to_numpy(dtype=bool)
    if not missing.any():
        return lambda row: bool(values[row])
    return lambda row: None if missing[row] else bool(values[row])


def _times(series: pd.Series) -> Getter:
    values = pd.to_datetime(series)

    def get(row: int) -> str | None:
        v = values.iloc[row]
        return None if pd.isna(v) else pd.Timestamp(v).isoformat()

    return get


def getter(series: pd.Series) -> Getter:
    """A function from row position to the column's value as a plain Python value: str, float,
    int, bool, ISO timestamp text, or None for a missing value (NaN, <NA>, NaT, null)."""
    dtype = series.dtype
    if len(series) and not series.notna().any():  # a column of nothing holds no array
        return _none
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return _texts(series)
    if pd.api.types.is_bool_dtype(dtype):
        return _booleans(series)
    if pd.api.types.is_float_dtype(dtype):
        return _floats(series)
    if pd.api.types.is_integer_dtype(dtype):
        return _integers(series)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _times(series)
    values = series.to_numpy(dtype=object)
    return lambda row: _plain(values[row])


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


class RowReader:
    """Selected columns of a frame, prepared once, read row by row as plain Python values.

    ``reader.row(i)`` is a dict of the columns; ``reader.get(name, i)`` one value. Columns the
    frame lacks read as None, so an answer can name optional columns without checking each.
    """

    def __init__(self, frame: pd.DataFrame, columns: Iterable[str]) -> None:
        self.columns = list(dict.fromkeys(columns))
        self.length = len(frame)
        self._get: dict[str, Getter] = {
            c: getter(frame[c]) if c in frame.columns else _none for c in self.columns
        }

    @classmethod
    def from_series(cls, length: int, series: Iterable[tuple[str, pd.Series | None]]) -> RowReader:
        """A reader of ``length`` rows from (name, column) pairs taken one at a time, so a caller
        reading a wide table column by column never holds more than one column's source; None
        stands for a column the table lacks."""
        reader = cls(pd.DataFrame(index=pd.RangeIndex(length)), [])
        for name, column in series:
            reader.columns.append(name)
            reader._get[name] = _none if column is None else getter(column)
        return reader

    def __len__(self) -> int:
        return self.length

    def get(self, name: str, row: int) -> Any:
        """One value (None when missing or when the frame has no such column)."""
        return self._get[name](row)

    def row(self, row: int) -> dict[str, Any]:
        """Every prepared column of one row."""
        return {c: g(row) for c, g in self._get.items()}


def _none(row: int) -> None:
    return None


__all__ = ["RowReader", "getter"]
