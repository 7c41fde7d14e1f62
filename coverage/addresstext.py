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
    """Vectorised :func:`fold` for a column of street names."""
    s = streets.astype("string[pyarrow]").fillna("")
    s = s.str.normalize("NFC").str.casefold()
    for src, dst in (
        ("æ", "ae"),
        ("ø", "oe"),
        ("å", "aa"),
        ("ä", "ae"),
        ("ö", "oe"),
        ("ü", "ue"),
        ("é", "e"),
    ):
        s = s.str.replace(src, dst, regex=False)
    s = s.str.replace(_PUNCT.pattern, " ", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


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

    Runs in Arrow (a full-match test plus an RE2 replace), which matters on millions of rows.
    """
    valid = arrowtext.fullmatch(values, _HOUSE_NUMBER_RE2)
    canonical = arrowtext.replace(values, _HOUSE_NUMBER_RE2, r"\1\2").str.upper()
    return canonical.where(valid, pd.NA)


def postcode_key(values: pd.Series) -> pd.Series:
    """Four-digit postcode text (``800`` becomes ``0800``); anything else becomes <NA>."""
    s = arrowtext.zfill(values.astype("string[pyarrow]").fillna("").str.strip(), 4)
    return s.where(arrowtext.fullmatch(s, r"\d{4}"), pd.NA)


def address_key(streets: pd.Series, numbers: pd.Series, postcodes: pd.Series) -> pd.Series:
    """Join key for (street, house number, postcode)."""
    return street_key(streets) + "|" + house_number_key(numbers) + "|" + postcode_key(postcodes)


def address_text(street: str, number: str, postcode: str, town: str) -> str:
    """Display text as Danish addresses are written: ``Strandvejen 52, 8305 Samsø``."""
    return f"{street} {number}, {postcode} {town}".strip()
