"""Free-text address queries: what a citizen typed, split into street, number, postcode and town.

:func:`parse_query` is forgiving in the ways Danish addresses are written and mistyped (case,
æ/ae, ø/oe, å/aa, ``10 A`` vs ``10A``, a postcode first or missing, floor and door words after the
number). :func:`compact_names`, :func:`house_numbers` and :func:`prefix_range` turn the register's
columns into the same folded forms, so :class:`coverage.lookup.AddressIndex` compares like with like.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from coverage.addresstext import fold

# Query parsing. Digits glued to words are split ("Strandvejen52" → "strandvejen 52"), but a house
# number's single letter stays attached ("10a").
_ALPHA_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z]{2})")
_POSTCODE = re.compile(r"\d{4}")
_NUMBER = re.compile(r"(\d{1,3})([a-z]?)")
_LETTER = re.compile(r"[a-z]")
# Floor and door words people add after the number; an access address has none of them.
_UNIT_WORDS = frozenset({"st", "th", "tv", "mf", "sal", "kl", "kld", "sth", "stv"})


class ParsedQuery(NamedTuple):
    """A free-text address split into its parts, all folded (see :func:`parse_query`)."""

    street: str
    words: tuple[str, ...]
    number: int | None
    letter: int
    postcode: str | None
    town: str
    last: str


def parse_query(text: str, *, partial: bool = False) -> ParsedQuery:
    """Split free text into street, house number, letter, postcode and town.

    Forgiving about case, punctuation, ``æ/ae``, ``ø/oe``, ``å/aa``, ``10 A`` vs ``10A``, a missing
    postcode or town, and a postcode written first. ``street`` and ``town`` are compact (folded, no
    spaces), so "Strand Vejen" finds "Strandvejen". ``letter`` is 0 or 1-26 (a-z). ``last`` names the
    field the last token went to; with ``partial`` (typing in progress) a short digit run after the
    house number is a postcode prefix.
    """
    tokens = _ALPHA_DIGIT.sub(" ", fold(text)).split()
    words: list[str] = []
    town: list[str] = []
    number: int | None = None
    letter, postcode, last = 0, None, ""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        is_last = i == len(tokens) - 1
        m = _NUMBER.fullmatch(tok)
        if postcode is None and _POSTCODE.fullmatch(tok):
            postcode, last = tok, "postcode"
        elif number is None and m and words:
            number, last = int(m.group(1)), "number"
            letter_text = m.group(2)
            if not letter_text and i + 1 < len(tokens) and _LETTER.fullmatch(tokens[i + 1]):
                letter_text = tokens[i + 1]
                i += 1
            if letter_text:
                letter, last = ord(letter_text) - 96, "letter"
        elif number is None and not (postcode is not None and words):
            words.append(tok)
            last = "street"
        elif partial and is_last and postcode is None and tok.isdigit() and len(tok) < 4:
            postcode, last = tok, "postcode"
        elif tok not in _UNIT_WORDS and not tok.isdigit():
            town.append(tok)
            last = "town"
        i += 1
    return ParsedQuery("".join(words), tuple(words), number, letter, postcode, "".join(town), last)


def compact_names(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sorted vocabulary of compact folded names ("Strand Vejen" → "strandvejen") and, for each
    value, its id in it (-1 for an empty name)."""
    compact = np.array([fold(str(v)).replace(" ", "") for v in values], dtype=object)
    vocab, inverse = np.unique(compact.astype(str), return_inverse=True)
    ids = inverse.astype(np.int32)
    ids[compact == ""] = -1
    return vocab, ids


def house_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """House numbers "10A" as (10, 1), for each distinct value."""
    nums = np.zeros(len(values), dtype=np.int16)
    letters = np.zeros(len(values), dtype=np.int8)
    for k, value in enumerate(values):
        m = _NUMBER.fullmatch(str(value).strip().lower())
        if m:
            nums[k] = int(m.group(1))
            letters[k] = ord(m.group(2)) - 96 if m.group(2) else 0
    return nums, letters


def prefix_range(sorted_words: np.ndarray, prefix: str) -> tuple[int, int]:
    """Positions [lo, hi) of the words starting with ``prefix`` in a sorted array."""
    lo = int(np.searchsorted(sorted_words, prefix, side="left"))
    hi = int(np.searchsorted(sorted_words, prefix + "\U0010ffff", side="left"))
    return lo, hi


__all__ = ["ParsedQuery", "compact_names", "house_numbers", "parse_query", "prefix_range"]
