"""Text of generated addresses: fictional street and town names, house numbers, register ids, DDKN.

Every name starts with ``Synt.`` so a planner sees at once that a street is not real, whatever
table, map or export it ends up in. Streets are runs of neighbouring addresses (a Morton curve over
50 m cells inside each postcode piece), numbered 1, 2, 3... with occasional letters (``10A``), as in
the register. All text is built as Arrow string arrays: 3.8 million rows take well under a second
per column, where Python string formatting would take minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from coverage.addresstext import fold
from coverage.grid import CELL_PREFIX, cell_indices

#: The marker every generated street and town name carries.
MARKER = "Synt."

_STEMS = (
    "Ege", "Bøge", "Birke", "Aske", "Elme", "Lærke", "Mølle", "Kirke", "Skov", "Strand",
    "Eng", "Mark", "Bakke", "Sø", "Hede", "Toft", "Vang", "Lunde", "Kær", "Holme",
    "Bæk", "Rønne", "Hyld", "Hassel", "Pile", "Poppel", "Gran", "Fyrre", "Rose", "Syren",
    "Lyng", "Kløver", "Hvede", "Rug", "Byg", "Havre", "Humle", "Tjørne", "Slåen", "Ene",
    "Vibe", "Stære", "Svale", "Ugle", "Ræve", "Hjorte", "Hare", "Grævling", "Odder", "Mose",
    "Kilde", "Brønd", "Smedie", "Skole", "Præste", "Degne", "Fisker", "Skipper", "Bager", "Hvidtjørn",
)  # fmt: skip
_STREET_SUFFIXES = (
    "vej", "gade", "vænget", "stien", "allé", "bakken", "toften", "parken", "haven", "engen",
    "løkken", "høj", "agre", "gården", "lunden", "stræde", "tofte", "kæret", "marken", "holmen",
    "dalen", "bjerget", "skoven", "vangen", "krogen",
)  # fmt: skip
_PREFIXES = (
    "", "Gl. ", "Ny ", "Lille ", "Store ", "Nørre ", "Søndre ", "Vestre ", "Østre ", "Øvre ", "Nedre ",
)  # fmt: skip
_TOWN_SUFFIXES = ("rup", "by", "sted", "lev", "løse", "inge", "bjerg", "strup", "torp", "holm")

#: Addresses per street on average (Samsø's register: 17.6); a street never exceeds _MAX_STREET.
_MEAN_STREET = 17.0
_MAX_STREET = 300
#: Step to the next house number: 0 = same number with a letter (10, 10A), 1, or 2 (a gap).
_STEPS = np.array([0, 1, 2])
_STEP_P = np.array([0.14, 0.68, 0.18])
#: Morton cells: 50 m squares counted from this south-west corner (west and south of Denmark).
_MORTON_ORIGIN = (400_000.0, 6_000_000.0)
_MORTON_CELL = 50.0


def _largest_prime_at_most(n: int) -> int:
    def prime(k: int) -> bool:
        return k > 1 and all(k % d for d in range(2, int(k**0.5) + 1))

    while not prime(n):
        n -= 1
    return n


def _street_dictionary() -> list[str]:
    """Distinct street names (distinct after Danish folding too), trimmed to a prime count.

    The prime count lets a per-postcode affine map ``(a * i + b) mod M`` hand out distinct names
    for i < M without storing a permutation per postcode.
    """
    seen: set[str] = set()
    names = []
    for stem in _STEMS:
        for suffix in _STREET_SUFFIXES:
            for prefix in _PREFIXES:
                name = f"{MARKER} {prefix}{stem}{suffix}"
                key = fold(name)
                if key not in seen:
                    seen.add(key)
                    names.append(name)
    return names[: _largest_prime_at_most(len(names))]


STREET_NAMES = pa.array(_street_dictionary(), type=pa.string())


@dataclass
class StreetLayout:
    """Addresses in street order, with their street and house number."""

    order: np.ndarray
    """Permutation that puts the input addresses in street order."""
    street: np.ndarray
    """Street id per address (in street order), counted from 0 over all postcodes."""
    ordinal: np.ndarray
    """The street's ordinal within its postcode (names are handed out by it)."""
    number: np.ndarray
    letter: np.ndarray
    """0 = no letter, 1 = A, 2 = B, ..."""
    streets_per_postcode: np.ndarray


def lay_out_streets(
    piece: np.ndarray,
    postcode_of_piece: np.ndarray,
    east: np.ndarray,
    north: np.ndarray,
    n_postcodes: int,
    rng: np.random.Generator,
) -> StreetLayout:
    """Cut each piece's addresses, in Morton order, into streets and number them."""
    n = len(piece)
    code = _morton(
        ((east - _MORTON_ORIGIN[0]) // _MORTON_CELL).astype("int64"),
        ((north - _MORTON_ORIGIN[1]) // _MORTON_CELL).astype("int64"),
    )
    order = np.lexsort((code, piece))
    piece_sorted = piece[order]
    first_of_piece = np.r_[True, piece_sorted[1:] != piece_sorted[:-1]] if n else np.zeros(0, bool)
    start = first_of_piece | (rng.random(n) < 1.0 / _MEAN_STREET)
    position = _position_in_run(start)
    start |= position % _MAX_STREET == 0  # split over-long streets so numbers stay below 1000
    street = np.cumsum(start) - 1
    steps = rng.choice(_STEPS, size=n, p=_STEP_P)
    steps[start] = 0
    run_total = np.cumsum(steps)
    first = np.flatnonzero(start)
    number = 1 + run_total - run_total[first][street]
    letter = _position_in_run(start | (steps != 0))

    # Pieces are sorted by postcode, so each postcode's streets are one run of ids.
    street_postcode = postcode_of_piece[piece_sorted[first]]
    first_street_of_postcode = np.searchsorted(street_postcode, np.arange(n_postcodes))
    streets_per_postcode = np.bincount(street_postcode, minlength=n_postcodes)
    ordinal = street - first_street_of_postcode[street_postcode[street]]
    return StreetLayout(order, street, ordinal, number, letter, streets_per_postcode)


def _position_in_run(start: np.ndarray) -> np.ndarray:
    """0-based position of each element in the run that begins at the last ``True`` of ``start``."""
    index = np.arange(len(start))
    first = np.maximum.accumulate(np.where(start, index, 0))
    return index - first


def _morton(col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Z-order key of 16-bit cell columns and rows: nearby cells get nearby keys."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype("uint64") & np.uint64(0xFFFF)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return spread(col) | (spread(row) << np.uint64(1))


@dataclass(frozen=True)
class NameKeys:
    """Per-postcode parameters of the affine map from street ordinal to name."""

    a: np.ndarray
    b: np.ndarray

    @classmethod
    def draw(cls, n_postcodes: int, rng: np.random.Generator) -> NameKeys:
        """Random multipliers (never 0, so the map is a bijection mod the prime) and offsets."""
        m = len(STREET_NAMES)
        return cls(rng.integers(1, m, size=n_postcodes), rng.integers(0, m, size=n_postcodes))


def street_names(postcode: np.ndarray, ordinal: np.ndarray, keys: NameKeys) -> pa.Array:
    """Street name for each (postcode, ordinal): distinct ordinals get distinct names per postcode.

    Past the dictionary's size (never at national scale) a name repeats with ``2. afsnit``.
    """
    m = len(STREET_NAMES)
    index = (keys.a[postcode] * (ordinal % m) + keys.b[postcode]) % m
    names = pc.take(STREET_NAMES, pa.array(index))
    lap = ordinal // m
    if not (lap > 0).any():
        return names
    suffix = pc.if_else(
        pa.array(lap > 0),
        pc.binary_join_element_wise(pc.cast(pa.array(lap + 1), pa.string()), ". afsnit", ""),
        "",
    )
    return pc.utf8_trim_whitespace(pc.binary_join_element_wise(names, suffix, " "))


def postcode_numbers(first: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """A 4-digit postcode per row, drawn from ``first..last`` (the same for ordinary postcodes)."""
    code = first + np.floor(rng.random(len(first)) * (last - first + 1)).astype("int64")
    return pc.utf8_lpad(pc.cast(pa.array(code), pa.string()), 4, "0")


def town_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` fictional village names such as ``Synt. Egerup``."""
    stems = np.array(_STEMS, dtype=object)[rng.integers(0, len(_STEMS), n)]
    suffixes = np.array(_TOWN_SUFFIXES, dtype=object)[rng.integers(0, len(_TOWN_SUFFIXES), n)]
    return np.array(
        [f"{MARKER} {s}{x}" for s, x in zip(stems, suffixes, strict=True)], dtype=object
    )


def house_numbers(number: np.ndarray, letter: np.ndarray) -> pa.Array:
    """Register spelling of house numbers: ``10``, ``10A``."""
    letters = pa.array(["", *(chr(ord("A") + i) for i in range(26))])
    return pc.binary_join_element_wise(
        pc.cast(pa.array(number), pa.string()),
        pc.take(letters, pa.array(np.minimum(letter, 26))),
        "",
    )


def uuids(n: int, rng: np.random.Generator) -> pa.Array:
    """``n`` random (version 4) UUIDs in lower-case 8-4-4-4-12 form, from the seeded generator."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    hex_pos = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
    chars[:, hex_pos] = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    return fixed_width_strings(chars)


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array from an (n, width) array of ASCII bytes, without Python objects."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    ).cast(pa.string())


def ddkn_names(east: np.ndarray, north: np.ndarray, size: int) -> pa.Array:
    """DDKN cell names (``100m_61868_6025``) as :func:`coverage.grid.cell_names` gives them."""
    rows, cols = cell_indices(east, north, size)
    return pc.binary_join_element_wise(
        CELL_PREFIX[size],
        pc.cast(pa.array(rows), pa.string()),
        pc.cast(pa.array(cols), pa.string()),
        "_",
    )
