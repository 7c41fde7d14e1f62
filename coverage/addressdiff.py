"""Addresses compared between two releases: paired by register id, compared as aligned arrays.

:func:`address_changes` reads each release's addresses and mapping into aligned arrays
(:class:`AddressState`), pairs them with one hash lookup on the register id, and returns one row per
changed address with every kind of change it has (:data:`CHANGE_KINDS`) and both states. The rest
of the diff (municipality counts, zones, sources) is :mod:`coverage.diff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from coverage.assess import CLASSES, assess, best_fixed
from coverage.availability import SPEED_FIELDS
from coverage.release import Release
from coverage.rules import RuleSet
from coverage.types import FIXED_TECHNOLOGIES, WORK_CRS
from coverage.zonediff import empty_layer, take_or
from coverage.zones import ELIGIBLE_CLASSES

#: Kinds of address change, in the order they are listed and counted.
CHANGE_KINDS = (
    "added_to_register", "removed_from_register", "got_fast", "lost_fast", "fixed_up",
    "fixed_down", "technology_changed", "mobile_up", "mobile_down", "became_eligible",
    "stopped_being_eligible", "class_changed",
)  # fmt: skip

#: The one kind that names an address on a map when it has several: the most consequential first.
PRIMARY_ORDER = (
    "added_to_register", "removed_from_register", "lost_fast", "got_fast",
    "stopped_being_eligible", "became_eligible", "fixed_down", "fixed_up", "technology_changed",
    "class_changed", "mobile_down", "mobile_up",
)  # fmt: skip


#: "Fast" fixed broadband: the EU gigabit-society and Danish pool threshold, Mbit/s download.
FAST_MBIT = 100.0

#: Columns of the per-address change table, in order.
CHANGE_COLUMNS = [
    "address_id", "kind", "kinds", "kommunekode", "kommunenavn", "vejnavn", "husnr", "postnr",
    "best_down_from", "best_down_to", "best_up_from", "best_up_to", "best_tech_from",
    "best_tech_to", "mobile_down_from", "mobile_down_to", "mobile_up_from", "mobile_up_to",
    "class_from", "class_to", "generated", "geometry",
]  # fmt: skip


_TEXT = ["id", "vejnavn", "husnr", "postnr", "kommunekode", "kommunenavn"]


@dataclass
class AddressState:
    """One release's register addresses as aligned arrays: row i describes address i."""

    text: pa.Table
    """id, vejnavn, husnr, postnr, kommunekode, kommunenavn."""
    zone: pd.Series
    east: np.ndarray
    north: np.ndarray
    generated: np.ndarray
    down: np.ndarray
    """Best fixed download, Mbit/s; NaN where the address has no mapping row."""
    up: np.ndarray
    tech: np.ndarray
    """Code of the best fixed technology in FIXED_TECHNOLOGIES, -1 where none is offered."""
    mobile_down: np.ndarray
    mobile_up: np.ndarray
    klass: np.ndarray
    """Code of the class in assess.CLASSES, -1 where no rule set was applied."""

    @property
    def n(self) -> int:
        """Number of addresses."""
        return self.text.num_rows

    @classmethod
    def read(cls, release: Release, codes: list[str] | None, rules: RuleSet | None) -> AddressState:
        """Read the release's addresses and mapping, align them and assess under the rules."""
        columns = [*_TEXT, "zone", "east", "north", "generated"]
        addresses = pq.read_table(release.table_path("addresses"), columns=columns)
        if codes is not None:
            keep = pc.is_in(addresses["kommunekode"], value_set=pa.array(codes, pa.string()))
            addresses = addresses.filter(keep)
        speeds = list(SPEED_FIELDS)
        mapping = pq.read_table(
            release.table_path("availability"), columns=["address_id", *speeds, "generated"]
        )
        # One hash lookup aligns mapping rows to addresses; a repeated id answers with its first row.
        pos = _positions(addresses["id"], mapping["address_id"])
        found = pos >= 0
        aligned = pd.DataFrame({c: _gather(mapping[c], pos) for c in speeds})
        n = addresses.num_rows
        # A municipality filter can leave no address; the assessment wants at least one.
        fixed = best_fixed(aligned) if n else _NO_OFFERS
        generated = addresses["generated"].to_numpy(zero_copy_only=False).astype(bool)
        generated |= _gather(mapping["generated"], pos, False).astype(bool) & found
        klass = np.full(n, -1, dtype=np.int8)
        zone = addresses["zone"].to_pandas().astype("string")
        if rules is not None and n:
            frame = pd.DataFrame(
                {
                    "id": addresses["id"].to_pandas().astype("string"),
                    "kommunekode": addresses["kommunekode"].to_pandas().astype("string"),
                    "zone": zone,
                    "generated": generated,
                }
            )
            aligned["address_id"] = frame["id"].where(found)
            result = assess(frame, aligned, rules)
            klass = pd.Categorical(result["class"], categories=CLASSES).codes.astype(np.int8)
        return cls(
            text=addresses.select(_TEXT),
            zone=zone,
            east=addresses["east"].to_numpy(),
            north=addresses["north"].to_numpy(),
            generated=generated,
            down=fixed["best_down"].to_numpy("float64", na_value=np.nan),
            up=fixed["best_up"].to_numpy("float64", na_value=np.nan),
            tech=np.asarray(fixed["best_tech"].cat.codes, dtype=np.int8),
            mobile_down=aligned["mobile_down"].to_numpy("float64"),
            mobile_up=aligned["mobile_up"].to_numpy("float64"),
            klass=klass,
        )


_NO_OFFERS = pd.DataFrame(
    {
        "best_down": np.empty(0),
        "best_up": np.empty(0),
        "best_tech": pd.Categorical([], categories=list(FIXED_TECHNOLOGIES)),
    }
)


def _positions(keys: pa.ChunkedArray, values: pa.ChunkedArray) -> np.ndarray:
    """For each key, the position of its first occurrence in ``values`` (-1 when absent)."""
    found = pc.index_in(keys, value_set=values)
    return found.fill_null(-1).to_numpy().astype(np.int64)


def _gather(column: pa.ChunkedArray, pos: np.ndarray, missing: Any = np.nan) -> np.ndarray:
    """``column[pos]`` as numpy, with ``missing`` where ``pos`` is -1."""
    values = column.to_numpy()
    if values.dtype.kind == "f":
        values = values.astype(np.float64)
    taken = values[np.where(pos >= 0, pos, 0)] if len(values) else np.zeros(len(pos))
    return np.where(pos >= 0, taken, missing)


def address_changes(a: AddressState, b: AddressState) -> gpd.GeoDataFrame:
    """The changed addresses: one row each, with its kinds and both states, newest position."""
    in_a = _positions(b.text["id"], a.text["id"])
    pair_b = np.flatnonzero(in_a >= 0)
    pair_a = in_a[pair_b]
    kept = np.zeros(a.n, dtype=bool)
    kept[pair_a] = True

    # Speeds are compared with "no mapping row" as 0 (the mapping's "not offered").
    def both(values_a: np.ndarray, values_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.nan_to_num(values_a[pair_a]), np.nan_to_num(values_b[pair_b])

    down_a, down_b = both(a.down, b.down)
    up_a, up_b = both(a.up, b.up)
    mob_down_a, mob_down_b = both(a.mobile_down, b.mobile_down)
    mob_up_a, mob_up_b = both(a.mobile_up, b.mobile_up)
    fixed = _lexical(down_a, up_a, down_b, up_b)
    mobile = _lexical(mob_down_a, mob_up_a, mob_down_b, mob_up_b)
    got_fast = (down_a < FAST_MBIT) & (down_b >= FAST_MBIT)
    lost_fast = (down_a >= FAST_MBIT) & (down_b < FAST_MBIT)
    class_a, class_b = a.klass[pair_a], b.klass[pair_b]
    eligible = [CLASSES.index(c) for c in ELIGIBLE_CLASSES]
    became = ~np.isin(class_a, eligible) & np.isin(class_b, eligible)
    stopped = np.isin(class_a, eligible) & ~np.isin(class_b, eligible)
    paired = {
        "got_fast": got_fast,
        "lost_fast": lost_fast,
        "fixed_up": ~got_fast & ~lost_fast & (fixed > 0),
        "fixed_down": ~got_fast & ~lost_fast & (fixed < 0),
        "technology_changed": a.tech[pair_a] != b.tech[pair_b],
        "mobile_up": mobile > 0,
        "mobile_down": mobile < 0,
        "became_eligible": became,
        "stopped_being_eligible": stopped,
        "class_changed": (class_a != class_b) & ~became & ~stopped,
    }
    changed = np.logical_or.reduce(list(paired.values()))
    removed, added = np.flatnonzero(~kept), np.flatnonzero(in_a < 0)
    row_a = np.concatenate([pair_a[changed], removed, np.full(len(added), -1)])
    row_b = np.concatenate([pair_b[changed], np.full(len(removed), -1), added])
    n_pairs = int(changed.sum())
    flags = np.zeros((len(row_a), len(CHANGE_KINDS)), dtype=bool)
    flags[n_pairs : n_pairs + len(removed), CHANGE_KINDS.index("removed_from_register")] = True
    flags[n_pairs + len(removed) :, CHANGE_KINDS.index("added_to_register")] = True
    for kind, values in paired.items():
        flags[:n_pairs, CHANGE_KINDS.index(kind)] = values[changed]
    return _change_rows(flags, a, b, row_a, row_b)


def _lexical(
    first_a: np.ndarray, second_a: np.ndarray, first_b: np.ndarray, second_b: np.ndarray
) -> np.ndarray:
    """+1 where (first, second) rose from a to b, -1 where it fell, 0 where equal: download first."""
    return np.where(
        first_b != first_a, np.sign(first_b - first_a), np.sign(second_b - second_a)
    ).astype(np.int8)


def _change_rows(
    flags: np.ndarray, a: AddressState, b: AddressState, row_a: np.ndarray, row_b: np.ndarray
) -> gpd.GeoDataFrame:
    """Rows for the changed addresses: text from the newer register (older for removed ones)."""
    primary = [CHANGE_KINDS.index(k) for k in PRIMARY_ORDER]
    kind = np.asarray(PRIMARY_ORDER, dtype=object)[flags[:, primary].argmax(axis=1)]
    # bool @ str concatenates the names of the set columns (True * "x;" == "x;").
    kinds = flags.astype(object) @ np.array([f"{k};" for k in CHANGE_KINDS], dtype=object)
    out = pd.DataFrame({"kind": pd.array(kind, dtype="string")})
    out["kinds"] = pd.Series(kinds, dtype="string").str.rstrip(";") if len(out) else ""
    take_a = pa.array(row_a, mask=row_a < 0, type=pa.int64())
    take_b = pa.array(row_b, mask=row_b < 0, type=pa.int64())
    for column in _TEXT:
        name = "address_id" if column == "id" else column
        newer = b.text[column].take(take_b)
        out[name] = pc.coalesce(newer, a.text[column].take(take_a)).to_pandas().astype("string")
    techs = np.array([*FIXED_TECHNOLOGIES, None], dtype=object)
    classes = np.array([*CLASSES, None], dtype=object)
    for side, state, rows in (("from", a, row_a), ("to", b, row_b)):
        out[f"best_down_{side}"] = take_or(state.down, rows, np.nan)
        out[f"best_up_{side}"] = take_or(state.up, rows, np.nan)
        out[f"best_tech_{side}"] = pd.array(techs[take_or(state.tech, rows, -1)], dtype="string")
        out[f"mobile_down_{side}"] = take_or(state.mobile_down, rows, np.nan)
        out[f"mobile_up_{side}"] = take_or(state.mobile_up, rows, np.nan)
        out[f"class_{side}"] = pd.array(classes[take_or(state.klass, rows, -1)], dtype="string")
    out["generated"] = take_or(a.generated, row_a, False) | take_or(b.generated, row_b, False)
    east = np.where(row_b >= 0, take_or(b.east, row_b, np.nan), take_or(a.east, row_a, np.nan))
    north = np.where(row_b >= 0, take_or(b.north, row_b, np.nan), take_or(a.north, row_a, np.nan))
    frame = gpd.GeoDataFrame(out, geometry=shapely.points(east, north), crs=WORK_CRS)
    order = np.lexsort((out["address_id"].to_numpy(str), out["kommunekode"].to_numpy(str)))
    frame = frame.iloc[order].reset_index(drop=True)[CHANGE_COLUMNS]
    frame.attrs["geometry_type"] = "Point"
    return frame


def empty_changes() -> gpd.GeoDataFrame:
    """A change table with no rows and every column."""
    return empty_layer(CHANGE_COLUMNS, "Point")


__all__ = [
    "CHANGE_COLUMNS",
    "CHANGE_KINDS",
    "FAST_MBIT",
    "PRIMARY_ORDER",
    "AddressState",
    "address_changes",
    "empty_changes",
]
