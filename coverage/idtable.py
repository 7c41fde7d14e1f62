"""Address ids of a lookup index, kept as 128-bit numbers instead of 850,000 Python strings.

Register ids are UUIDs. As two uint64 halves sorted once, an id is found by bisection in
microseconds, and the whole table of a region takes ~20 MB where an object array of the strings and
a hash index over them took ~110 MB. The few ids that are not UUIDs (mapping rows without an
address: ``mapping:8305:bryggerbakken:5``) sit in a small dict.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID = re.compile(_UUID_PATTERN)
_HEX_POSITIONS = [i for i in range(36) if i not in (8, 13, 18, 23)]
_NIBBLE = np.zeros(256, dtype=np.uint64)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint64)
_MASK64 = (1 << 64) - 1


def _halves(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 36 UUID characters (uint8) as (high, low) uint64 halves, one hex digit at a time
    so no (n, 32) intermediate is ever built."""
    out = []
    for positions in (_HEX_POSITIONS[:16], _HEX_POSITIONS[16:]):
        value = np.zeros(len(chars), dtype=np.uint64)
        for p in positions:
            value = (value << np.uint64(4)) | _NIBBLE[chars[:, p]]
        out.append(value)
    return out[0], out[1]


def _uuid_chars(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The characters of valid lower-case UUID strings as an (n, 36) uint8 view of Arrow's buffer."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + n + 1
    ]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    start = int(offsets[0]) if n else 0
    return data[start : start + 36 * n].reshape(n, 36)


class IdTable:
    """Entry → id text and id text → entry for every entry of an index.

    ``values`` are the ids in any row order and ``entries`` the index entry of each row. When an id
    occurs twice, the lower entry answers.
    """

    def __init__(self, values: pd.Series | np.ndarray | pa.Array, entries: np.ndarray) -> None:
        ids = (
            pa.array(values, type=pa.large_string()) if not isinstance(values, pa.Array) else values
        )
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        entries = np.asarray(entries, dtype=np.int64)
        self.length = len(ids)
        valid = pc.fill_null(pc.match_substring_regex(ids, _UUID_PATTERN), False)
        valid_np = valid.to_numpy(zero_copy_only=False)
        hi, lo = _halves(_uuid_chars(pc.filter(ids, valid)))
        uuid_entries = entries[valid_np]
        order = np.lexsort((uuid_entries, lo, hi))
        self.sorted_hi, self.sorted_lo = hi[order], lo[order]
        self.sorted_entry = uuid_entries[order].astype(np.int32)
        self.rank = np.full(self.length, -1, dtype=np.int32)  # entry → position in the sorted ids
        self.rank[self.sorted_entry] = np.arange(len(order), dtype=np.int32)
        # Ids that are not UUIDs: few (mapping rows without an address), kept as text.
        others = pc.filter(ids, pc.invert(valid)).to_pylist()
        other_entries = entries[~valid_np].tolist()
        self.other_text = dict(zip(other_entries, others, strict=True))
        self.other_entry: dict[str, int] = {}
        for entry, text in sorted(zip(other_entries, others, strict=True)):
            self.other_entry.setdefault(str(text), entry)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, entry: int) -> str:
        """The id of an entry as written (UUIDs in lower case)."""
        rank = int(self.rank[entry])
        if rank < 0:
            return str(self.other_text[int(entry)])
        text = f"{int(self.sorted_hi[rank]):016x}{int(self.sorted_lo[rank]):016x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def find(self, key: str) -> int:
        """The entry of an id (exact text; UUIDs in lower case), or -1."""
        if _UUID.fullmatch(key):
            number = int(key.replace("-", ""), 16)
            hi, lo = np.uint64(number >> 64), np.uint64(number & _MASK64)
            a = int(np.searchsorted(self.sorted_hi, hi, side="left"))
            b = int(np.searchsorted(self.sorted_hi, hi, side="right"))
            if a < b:
                k = a + int(np.searchsorted(self.sorted_lo[a:b], lo, side="left"))
                if k < b and self.sorted_lo[k] == lo:
                    return int(self.sorted_entry[k])
            return -1
        return self.other_entry.get(key, -1)


__all__ = ["IdTable"]
