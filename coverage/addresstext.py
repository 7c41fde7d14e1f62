"""Danish-aware normalisation of address text, shared by ingest (matching) and lookup (search).

Two strengths are used on purpose:

* :func:`street_key` for joining the broadband mapping to the register: case, accents, ``æøå``
  spellings, punctuation and runs of spaces are folded, but a space between words is kept, so
  "M.B. Jensens Vej" and "M.B. Jensensvej" stay different streets (they are different register
  entries; conflating them would invent matches).
* :func:`search_text` for a citizen's free text, which is far more forgiving.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage import arrowtext

# Danish letters and their ASCII spellings; "aa" is the historical spelling of "å" (Aabenraa).
_FOLD = str.maketrans(
    {
        "æ": "ae",
        "ø": "oe",
        "å": "aa",
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "é": "e",
        "è": "e",
        "á": "a",
        "ß": "ss",
    }
)
_FOLD_PAIRS = (
    ("æ", "ae"),
    ("ø", "oe"),
    ("å", "aa"),
    ("ä", "ae"),
    ("ö", "oe"),
    ("ü", "ue"),
    ("é", "e"),
    ("è", "e"),
    ("á", "a"),
    ("ß", "ss"),
)
_PUNCT = re.compile(r"[.,'\"`´’()/\\-]+")
_SPACES = re.compile(r"\s+")
_HOUSE_NUMBER = re.compile(r"^\s*0*([1-9][0-9]{0,2})\s*([A-Za-zÆØÅæøå]?)\s*$")
# The same pattern for Arrow's RE2 (anchored by the helper).
_HOUSE_NUMBER_RE2 = r"\s*0*([1-9][0-9]{0,2})\s*([A-Za-zÆØÅæøå]?)\s*"


def fold(text: str) -> str:
    """Lower-case, NFC, Danish letters spelled in ASCII, punctuation to spaces, spaces collapsed."""
    text = unicodedata.normalize("NFC", text).casefold().translate(_FOLD)
    text = _PUNCT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def street_key(streets: pd.Series) -> pd.Series:
    """Vectorised :func:`fold` for a column of street names, each distinct name folded once."""
    return arrowtext.from_arrow(arrowtext.on_distinct(streets, _fold_array), streets.index)


def _fold_array(arr: pa.Array) -> pa.Array:
    """:func:`fold` as Arrow kernels over a string array (nulls become empty)."""
    arr = pc.fill_null(arr, pa.scalar("", pa.string()))
    arr = pc.utf8_lower(pc.utf8_normalize(arr, "NFC"))
    for src, dst in _FOLD_PAIRS:
        arr = pc.replace_substring(arr, src, dst)
    arr = pc.replace_substring_regex(arr, _PUNCT.pattern, " ")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))


def house_number(value: str) -> str | None:
    """Canonical house number (``10A``) or None when the text is not one.

    Accepts ``10 A``, ``10a`` and leading zeros; a Danish house number is 1-999 with an optional
    letter.
    """
    m = _HOUSE_NUMBER.match(value)
    if not m:
        return None
    return m.group(1) + m.group(2).upper()


def house_number_key(values: pd.Series) -> pd.Series:
    """Vectorised :func:`house_number`; values that are not house numbers become <NA>.

    Runs in Arrow (a full-match test plus an RE2 replace) on each distinct value once.
    """

    def canonical(arr: pa.Array) -> pa.Array:
        arr = pc.fill_null(arr, pa.scalar("", pa.string()))
        valid = pc.match_substring_regex(arr, f"^(?:{_HOUSE_NUMBER_RE2})$")
        number = pc.utf8_upper(pc.replace_substring_regex(arr, _HOUSE_NUMBER_RE2, r"\1\2"))
        return pc.if_else(valid, number, pa.scalar(None, pa.string()))

    return arrowtext.from_arrow(arrowtext.on_distinct(values, canonical), values.index)


def postcode_key(values: pd.Series) -> pd.Series:
    """Four-digit postcode text (``800`` becomes ``0800``); anything else becomes <NA>."""

    def canonical(arr: pa.Array) -> pa.Array:
        arr = pc.fill_null(arr, pa.scalar("", pa.string()))
        padded = pc.utf8_lpad(pc.utf8_trim_whitespace(arr), width=4, padding="0")
        valid = pc.match_substring_regex(padded, r"^\d{4}$")
        return pc.if_else(valid, padded, pa.scalar(None, pa.string()))

    return arrowtext.from_arrow(arrowtext.on_distinct(values, canonical), values.index)


def address_key(streets: pd.Series, numbers: pd.Series, postcodes: pd.Series) -> pd.Series:
    """Join key for (street, house number, postcode); <NA> when a part is not valid."""
    parts = [
        arrowtext.to_arrow(street_key(streets)),
        pa.chunked_array([pa.array(house_number_key(numbers), type=pa.string())]),
        pa.chunked_array([pa.array(postcode_key(postcodes), type=pa.string())]),
    ]
    # Nulls propagate: a row with an invalid number or postcode gets no key.
    key = pc.binary_join_element_wise(*parts, "|", null_handling="emit_null")
    return arrowtext.from_arrow(key, streets.index)


def address_text(street: str, number: str, postcode: str, town: str) -> str:
    """Display text as Danish addresses are written: ``Strandvejen 52, 8305 Samsø``."""
    return f"{street} {number}, {postcode} {town}".strip()
