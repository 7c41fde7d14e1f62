"""Address ids and display texts as vector tile properties, without a copy per address.

A region's address layer has 850,000 features, each with its own register id and display text
(``Strandvejen 52, 8305 Samsø``). Held as factorised Arrow text they were ~65 MB. Here the ``id``
values are the address table's own id column, and the texts are joined from the table's street,
number, postcode and town codes only for the rows a tile shows; each feature's code is its table
row (the first row with the same value, should values repeat, so a tile names a value once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage.tiles.mvt import ArrowValues, Column

#: An address's display text: these columns joined by these separators (``Strandvejen 52, 8305
#: Samsø``).
ADDRESS_TEXT = ("vejnavn", "husnr", "postnr", "postnrnavn")
ADDRESS_SEPARATORS = (" ", ", ", " ")


@dataclass
class JoinedText:
    """Texts of table rows made by joining columns with fixed separators, made only for the rows
    asked for: e.g. an address's display text from its street, number and postcode codes, without
    holding a text per address."""

    codes: list[np.ndarray]
    """Per part a code per table row into its ``texts`` (-1: missing, and so is the text)."""
    texts: list[pa.Array]
    separators: list[str]

    @classmethod
    def from_columns(cls, columns: list[pd.Series], separators: Sequence[str]) -> JoinedText:
        """From a table's columns: a categorical's own codes (not a copy) and its categories as
        text (as ``astype("string")`` spells them); any other column factorised."""
        codes, texts = [], []
        for series in columns:
            array = series.array
            if isinstance(array, pd.Categorical):
                part, values = array.codes, array.categories
            else:
                part, values = pd.factorize(series, use_na_sentinel=True)
                part = part.astype(np.int32)
            text = np.asarray(pd.Index(values).astype("string"), dtype=object)
            codes.append(np.asarray(part))
            texts.append(pa.array(text, pa.string()))
        return cls(codes, texts, list(separators))

    def arrow(self, rows: np.ndarray) -> pa.Array:
        """The texts of table rows, null where a part is missing."""
        args: list[Any] = []
        for i, (codes, texts) in enumerate(zip(self.codes, self.texts, strict=True)):
            part = codes[rows]
            args += [self.separators[i - 1]] if i else []
            args.append(texts.take(pa.array(part, mask=part < 0)))
        return pc.binary_join_element_wise(*args, "")

    def take(self, codes: np.ndarray) -> pa.Array:
        """The texts of table rows ``codes``."""
        return self.arrow(codes)

    def groups(self, rows: np.ndarray) -> np.ndarray:
        """Per table row of ``rows`` a code of its combination of parts, in order of first
        appearance (-1 where a part is missing)."""
        group = np.zeros(len(rows), dtype=np.int64)
        missing = np.zeros(len(rows), dtype=bool)
        for codes in self.codes:
            part = codes[rows].astype(np.int64)
            missing |= part < 0
            # refactorised at each step, the combined code stays below rows × categories
            group = pd.factorize(group * (int(part.max(initial=0)) + 2) + (part + 1))[0]
        return np.where(missing, -1, group)


def row_codes(group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Codes of a column whose values a :class:`Values` holds per table row: per feature its table
    row (``rows``, increasing), or where features share a ``group`` (equal values) the row of the
    first of them, so a tile names each value once and in the order a factorised column would;
    -1 where ``group`` is -1 (no value). ``rows`` itself when every feature has a value of its
    own."""
    valid = group >= 0
    at = np.flatnonzero(valid)
    distinct, first = np.unique(group[at], return_index=True)
    if len(distinct) == len(group):
        return rows
    out = np.full(len(rows), -1, dtype=rows.dtype)
    out[at] = rows[at[first[np.searchsorted(distinct, group[at])]]]
    return out


def id_column(ids: pd.Series, rows: np.ndarray, *, unique: bool = False) -> Column:
    """``id``: the table's own id column as values; per feature its table row as code (the first
    row with the same id, should ids repeat). ``unique``: the ids are known to be unique and
    present, so no hash of them is needed to find repeats."""
    if unique:
        return Column("id", rows, ArrowValues.from_series(ids))
    group, _ = pd.factorize(ids, use_na_sentinel=True)
    return Column("id", row_codes(group[rows], rows), ArrowValues.from_series(ids))


def address_column(table: pd.DataFrame, rows: np.ndarray) -> Column:
    """``address``: texts made from the table's codes for the rows a tile shows; per feature its
    table row as code (the first row with the same text, should texts repeat)."""
    text = JoinedText.from_columns([table[c] for c in ADDRESS_TEXT], ADDRESS_SEPARATORS)
    if _joins_uniquely(text.texts):
        group = text.groups(rows)
    else:  # two combinations of parts could spell one text: compare the texts themselves
        group = pc.dictionary_encode(text.arrow(rows)).indices.fill_null(-1).to_numpy()
    return Column("address", row_codes(group, rows), text)


def _joins_uniquely(texts: list[pa.Array]) -> bool:
    """Whether distinct streets, numbers and postcodes always make distinct address texts: with
    no comma in street or number and no space in number or postcode, a text splits back into its
    parts at its first ", ", the last space before it and the first space after it."""
    street, number, postcode, _ = texts
    splits = ((street, ","), (number, ","), (number, " "), (postcode, " "))
    if any(pc.any(pc.match_substring(t, pattern)).as_py() for t, pattern in splits):
        return False
    return all(pc.count_distinct(t).as_py() == len(t) for t in texts)


__all__ = [
    "ADDRESS_SEPARATORS",
    "ADDRESS_TEXT",
    "JoinedText",
    "address_column",
    "id_column",
    "row_codes",
]
