"""Per-address assessment against a pool rule set, with machine and plain-language reasons.

Every address gets a class (:data:`CLASSES`), the values that decided it, and one sentence in Danish
and in English naming those values. The logic is written once, on arrays:

* the mapping row of each address is found with one hash lookup, and the best fixed technology per
  row with array reductions;
* the outcome of a rule set depends only on (has data, best technology, best down, zone, and best
  up or mobile down where the rule set reads them), and real data holds few distinct combinations
  of these (operators sell speed tiers), so the combinations are factorised first and classified
  and phrased once each, on arrays (Arrow kernels for the text); the results are broadcast back to
  all addresses. 850,000 addresses become a few hundred rows.

:func:`assess_row` (an unmatched mapping row, which has no address) runs the same code on one row.
The criteria, classes and sentences of the distinct combinations are :mod:`coverage.criteria`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage.criteria import (
    CLASSES,
    OUTCOMES,
    Combinations,
    combinations,
    evaluate,
)
from coverage.errors import InvalidRequestError
from coverage.planning import ZONE_NAMES, ZONE_SOURCES, canonical_zone, resolve_zone_codes
from coverage.rules import RuleSet
from coverage.types import FIXED_TECHNOLOGIES

#: Columns of an assessment, in order.
ASSESSMENT_COLUMNS = [
    "address_id",
    "kommunekode",
    "best_down",
    "best_up",
    "best_tech",
    "mobile_down",
    "mobile_up",
    "zone",
    "zone_source",
    "class",
    "reasons",
    "reason_da",
    "reason_en",
    "rule_set",
    "generated",
    "speed_outcome",
    "zone_outcome",
]

_SPEED_COLUMNS = [f"{t}_{d}" for t in (*FIXED_TECHNOLOGIES, "mobile") for d in ("down", "up")]


def best_fixed(availability: pd.DataFrame) -> pd.DataFrame:
    """Best fixed technology per mapping row: ``best_down``, ``best_up``, ``best_tech``.

    The best is the highest download among fiber, coax, xDSL and FWA; ties go to the higher upload,
    then to the order fiber, coax, xdsl, fwa. Upload comes from the same technology (NaN when the
    file had no upload column for it). Where nothing is offered (all 0) ``best_tech`` is <NA> and
    both speeds are 0; where the file had no fixed column at all, the speeds are NaN.
    """
    down, up = fixed_matrices(availability)
    best_down, best_up, tech = _best_of(down, up)
    return pd.DataFrame(
        {
            "best_down": best_down,
            "best_up": best_up,
            "best_tech": _tech_labels(tech),
        },
        index=availability.index,
    )


def fixed_matrices(availability: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Down and up speeds as (rows x technologies) float32 matrices, NaN for a missing column."""
    n = len(availability)

    def column(name: str) -> np.ndarray:
        if name not in availability.columns:
            return np.full(n, np.nan, dtype=np.float32)
        return availability[name].to_numpy(dtype=np.float32, na_value=np.nan)

    # column_stack (not reshape(n, -1)): shape (n, technologies) holds for n == 0 too.
    down = np.column_stack([column(f"{t}_down") for t in FIXED_TECHNOLOGIES])
    up = np.column_stack([column(f"{t}_up") for t in FIXED_TECHNOLOGIES])
    return down, up


def _best_of(down: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise best technology: (best down, its up, technology code; -1 = none offered)."""
    n = down.shape[0]
    d = np.where(np.isnan(down), -np.inf, down)
    u = np.where(np.isnan(up), -np.inf, up)
    top = d.max(axis=1) if n else np.empty(0)
    candidate = d == top[:, None]
    u_candidates = np.where(candidate, u, -np.inf)
    top_up = u_candidates.max(axis=1) if n else np.empty(0)
    # argmax returns the first True: the earliest technology in FIXED_TECHNOLOGIES order.
    tech = (candidate & (u_candidates == top_up[:, None])).argmax(axis=1).astype(np.int8)
    rows = np.arange(n)
    best_down = np.where(np.isneginf(top), np.nan, top).astype(np.float32)
    best_up = up[rows, tech].astype(np.float32)
    none_offered = best_down == 0  # 0 means "not offered": no technology, nothing up either
    best_up[none_offered] = 0
    tech[none_offered | np.isnan(best_down)] = -1
    return best_down, best_up, tech


def _tech_labels(tech: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(tech.astype(np.int8), categories=list(FIXED_TECHNOLOGIES))


def lookup_positions(values: pd.Series | pd.Index, value_set: pd.Series | pd.Index) -> np.ndarray:
    """Position of each value's first occurrence in ``value_set``; -1 where absent or null.

    Arrow's hash lookup on the string buffers: no Python objects are made, which matters for a
    million register ids.
    """
    options = pc.SetLookupOptions(_arrow_text(value_set), skip_nulls=True)
    return pc.index_in(_arrow_text(values), options=options).fill_null(-1).to_numpy()


def _arrow_text(values: pd.Series | pd.Index | list[str]) -> pa.Array:
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def availability_positions(address_ids: pd.Series, availability: pd.DataFrame) -> np.ndarray:
    """For each address id, the position of its mapping row in ``availability`` (-1 for none).

    The join keeps one row per address; should a frame hold two, the first wins.
    """
    return lookup_positions(address_ids, availability["address_id"])


def take_rows(values: np.ndarray, positions: np.ndarray, missing: Any) -> np.ndarray:
    """``values`` at ``positions`` (from :func:`availability_positions`), ``missing`` at -1."""
    found = positions >= 0
    if not len(values):
        return np.full(len(positions), missing, dtype=values.dtype)
    return np.where(found, values[np.where(found, positions, 0)], missing).astype(values.dtype)


@dataclass
class Prepared:
    """Inputs of a classification, aligned one row per address (or per lone mapping row)."""

    index: pd.Index
    address_id: pd.Series
    kommunekode: pd.Series
    best_down: np.ndarray
    best_up: np.ndarray
    tech: np.ndarray
    mobile_down: np.ndarray
    mobile_up: np.ndarray
    has_data: np.ndarray
    zone: np.ndarray
    """Codes into :data:`~coverage.planning.ZONE_NAMES`, -1 for unknown."""
    zone_source: np.ndarray
    """Codes into :data:`~coverage.planning.ZONE_SOURCES`."""
    generated: np.ndarray


def prepare(
    addresses: pd.DataFrame,
    availability: pd.DataFrame,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> Prepared:
    """Align each address with its mapping row, best fixed technology and zone (done once)."""
    pos = availability_positions(addresses["id"], availability)
    has = pos >= 0
    down, up = fixed_matrices(availability)
    best_down, best_up, tech = _best_of(down, up)

    def gather(values: np.ndarray, missing: Any) -> np.ndarray:
        return take_rows(values, pos, missing)

    def speed(name: str) -> np.ndarray:
        if name not in availability.columns:
            return np.full(len(pos), np.nan, dtype=np.float32)
        return gather(availability[name].to_numpy(dtype=np.float32, na_value=np.nan), np.nan)

    zone, source = resolve_zone_codes(addresses, zone_layer)
    address_generated = (
        addresses["generated"].to_numpy(dtype=bool)
        if "generated" in addresses.columns
        else np.zeros(len(addresses), dtype=bool)
    )
    mapping_generated = (
        gather(availability["generated"].to_numpy(dtype=bool), False)
        if "generated" in availability.columns
        else np.zeros(len(addresses), dtype=bool)
    )
    return Prepared(
        index=addresses.index,
        address_id=addresses["id"],
        kommunekode=addresses["kommunekode"],
        best_down=gather(best_down, np.nan),
        best_up=gather(best_up, np.nan),
        tech=gather(tech, -1),
        mobile_down=speed("mobile_down"),
        mobile_up=speed("mobile_up"),
        has_data=has,
        zone=zone,
        zone_source=source,
        generated=address_generated | mapping_generated,
    )


def assess(
    addresses: gpd.GeoDataFrame | pd.DataFrame,
    availability: pd.DataFrame,
    rules: RuleSet,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Assess every address under one rule set: one row per address, in the same order and index.

    ``addresses`` needs ``id`` and ``kommunekode`` (``zone`` and ``generated`` are used when
    present; point geometry only with a ``zone_layer``); ``availability`` is the release's table.
    Columns are :data:`ASSESSMENT_COLUMNS`: labels and sentences are pandas Categoricals (few
    distinct values), speeds float32 Mbit/s, ``reasons`` is JSON text: a list of
    ``{criterion, value, threshold, comparison, outcome}``.
    """
    return classify(prepare(addresses, availability, zone_layer), rules)


def assess_many(
    addresses: gpd.GeoDataFrame | pd.DataFrame,
    availability: pd.DataFrame,
    rule_sets: Iterable[RuleSet],
    zone_layer: gpd.GeoDataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Assess under several rule sets, aligning the inputs only once; keyed by rule set id."""
    prepared = prepare(addresses, availability, zone_layer)
    return {rules.id: classify(prepared, rules) for rules in rule_sets}


def assess_row(
    availability_row: Mapping[str, Any],
    zone: str | None,
    rules: RuleSet,
    *,
    zone_source: str | None = None,
) -> dict[str, Any]:
    """Assess one mapping row without an address (a lookup of an unmatched row).

    Gives the fields of :func:`assess` as plain Python values (None for missing). ``zone`` may be
    any spelling :func:`~coverage.planning.canonical_zone` accepts; its source defaults to
    ``layer`` when a zone is given (a lone row has no register entry) and ``unknown`` otherwise.
    """
    speeds = {}
    for name in _SPEED_COLUMNS:
        value = availability_row.get(name)
        try:
            speeds[name] = [np.nan if value is None or value is pd.NA else float(value)]
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"{name}: {value!r} is not a speed (expected Mbit/s, 0 = not offered)"
            ) from None
    zone_name = canonical_zone(zone) if zone not in (None, "") else None
    if zone not in (None, "") and zone_name is None:
        raise InvalidRequestError(
            f"zone {zone!r} is not a planning zone; expected one of {', '.join(ZONE_NAMES)}"
        )
    source = zone_source or ("layer" if zone_name else "unknown")
    if source not in ZONE_SOURCES:
        raise InvalidRequestError(f"zone_source {source!r}; expected one of {ZONE_SOURCES}")
    frame = pd.DataFrame(speeds, dtype=np.float32)
    best_down, best_up, tech = _best_of(*fixed_matrices(frame))
    prepared = Prepared(
        index=pd.RangeIndex(1),
        address_id=pd.Series([availability_row.get("address_id")], dtype="string"),
        kommunekode=pd.Series([availability_row.get("kommunekode")], dtype="string"),
        best_down=best_down,
        best_up=best_up,
        tech=tech,
        mobile_down=frame["mobile_down"].to_numpy(),
        mobile_up=frame["mobile_up"].to_numpy(),
        has_data=np.ones(1, dtype=bool),
        zone=np.array([ZONE_NAMES.index(zone_name) if zone_name else -1], dtype=np.int8),
        zone_source=np.array([ZONE_SOURCES.index(source)], dtype=np.int8),
        generated=np.array([bool(availability_row.get("generated") or False)]),
    )
    row = classify(prepared, rules).iloc[0]
    return {k: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for k, v in row.items()}


# --- classification ---------------------------------------------------------------------------


def classify(prepared: Prepared, rules: RuleSet) -> pd.DataFrame:
    """Classify prepared addresses under a rule set (see :func:`assess` for the columns)."""
    zone_code = prepared.zone
    # Only what the rule set reads separates combinations: upload matters only with an upload
    # ceiling, mobile only with a mobile ceiling (values it does not read are never looked at).
    keys = [prepared.has_data, prepared.tech, prepared.best_down, zone_code]
    if rules.fixed.up is not None:
        keys.append(prepared.best_up)
    if rules.mobile_ceiling is not None:
        keys.append(prepared.mobile_down)
    combo, first = combinations(keys)
    u = Combinations(
        has_data=prepared.has_data[first],
        tech=prepared.tech[first],
        down=prepared.best_down[first],
        up=prepared.best_up[first],
        mobile=prepared.mobile_down[first],
        zone=zone_code[first],
    )
    result = evaluate(u, rules)

    def spread(values: np.ndarray, categories: Iterable[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(values[combo], categories=list(categories))

    def texts(values: pa.Array) -> pd.Categorical:
        encoded = pc.dictionary_encode(values)
        categories = pd.Index(pd.array(encoded.dictionary, dtype="str"))
        return pd.Categorical.from_codes(encoded.indices.to_numpy()[combo], categories=categories)

    n = len(prepared.index)
    return pd.DataFrame(
        {
            "address_id": prepared.address_id.array,
            "kommunekode": prepared.kommunekode.array,
            "best_down": prepared.best_down,
            "best_up": prepared.best_up,
            "best_tech": _tech_labels(prepared.tech),
            "mobile_down": prepared.mobile_down,
            "mobile_up": prepared.mobile_up,
            "zone": pd.Categorical.from_codes(zone_code, categories=ZONE_NAMES),
            "zone_source": pd.Categorical.from_codes(prepared.zone_source, categories=ZONE_SOURCES),
            "class": spread(result.classes, CLASSES),
            "reasons": texts(result.reasons),
            "reason_da": texts(result.reason_da),
            "reason_en": texts(result.reason_en),
            "rule_set": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [rules.id]),
            "generated": prepared.generated,
            "speed_outcome": spread(result.speed, OUTCOMES),
            "zone_outcome": spread(result.zone, OUTCOMES),
        },
        index=prepared.index,
    )


__all__ = [
    "ASSESSMENT_COLUMNS",
    "CLASSES",
    "OUTCOMES",
    "Prepared",
    "assess",
    "assess_many",
    "assess_row",
    "availability_positions",
    "best_fixed",
    "classify",
    "fixed_matrices",
    "lookup_positions",
    "prepare",
    "take_rows",
]
