"""Coverage and pool-eligibility statistics per municipality, with a region total.

Counts are computed with one ``bincount`` per measure over municipality codes, so a region of
850,000 addresses costs a few array passes. Shares are of the addresses that have a mapping row
(the mapping is the only evidence of speed); they are null, not 0, where a municipality has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.addresstext import fold
from coverage.assess import (
    CLASSES,
    assess_many,
    availability_positions,
    best_fixed,
    fixed_matrices,
    lookup_positions,
    take_rows,
)
from coverage.release import Release
from coverage.rules import resolve_rule_sets

#: Speed measures: column name -> (what it counts, in words).
SPEED_MEASURES = {
    "fixed_30": "best fixed download ≥ 30 Mbit/s",
    "fixed_100": "best fixed download ≥ 100 Mbit/s",
    "fixed_1000": "best fixed download ≥ 1000 Mbit/s",
    "fixed_100_30": "a fixed technology with ≥ 100 Mbit/s down and ≥ 30 Mbit/s up",
    "mobile_100": "mobile download ≥ 100 Mbit/s",
    "mobile_600": "mobile download ≥ 600 Mbit/s",
}

#: Classes counted per rule set, as ``<class>_<rule set id>`` columns.
COUNTED_CLASSES = ("eligible", "eligible_blue", "eligible_if_zone")

_ADDRESS_COLUMNS = ["id", "kommunekode", "zone", "generated"]
_AVAILABILITY_COLUMNS = [
    "address_id",
    "kommunenavn",
    *(f"{t}_{d}" for t in ("fiber", "coax", "xdsl", "fwa", "mobile") for d in ("down", "up")),
    "generated",
]


def coverage_flags(addresses: pd.DataFrame, availability: pd.DataFrame) -> pd.DataFrame:
    """Per address (same order): ``has_data``, ``generated`` and one boolean per speed measure.

    A measure whose speed is unknown (no row, or the file lacked the column) counts as not met.
    """
    pos = availability_positions(addresses["id"], availability)
    down, up = fixed_matrices(availability)
    with np.errstate(invalid="ignore"):
        any_100_30 = np.asarray(((down >= 100) & (up >= 30)).any(axis=1), dtype=bool)
    best_down = take_rows(best_fixed(availability)["best_down"].to_numpy(), pos, np.nan)
    mobile_down = (
        take_rows(availability["mobile_down"].to_numpy(np.float32, na_value=np.nan), pos, np.nan)
        if "mobile_down" in availability.columns
        else np.full(len(pos), np.nan, dtype=np.float32)
    )
    generated = np.zeros(len(addresses), dtype=bool)
    if "generated" in addresses.columns:
        generated |= addresses["generated"].to_numpy(dtype=bool)
    if "generated" in availability.columns:
        generated |= take_rows(availability["generated"].to_numpy(dtype=bool), pos, False)
    with np.errstate(invalid="ignore"):  # NaN compares False: unknown is not met
        return pd.DataFrame(
            {
                "has_data": pos >= 0,
                "generated": generated,
                "fixed_30": best_down >= 30,
                "fixed_100": best_down >= 100,
                "fixed_1000": best_down >= 1000,
                "fixed_100_30": take_rows(any_100_30, pos, False),
                "mobile_100": mobile_down >= 100,
                "mobile_600": mobile_down >= 600,
            },
            index=addresses.index,
        )


def municipality_stats(
    addresses: pd.DataFrame,
    assessments_by_rule_set: dict[str, pd.DataFrame],
    availability: pd.DataFrame,
    municipalities: pd.DataFrame | None = None,
    *,
    region_name: str | None = None,
) -> pd.DataFrame:
    """One row per municipality and a last ``level == "region"`` row with the totals.

    ``municipalities`` (``kommunekode``, ``kommunenavn``; the release's table) lists every
    municipality to report, including those without addresses; without it, the codes found among
    the addresses are used. Columns: ``level, kommunekode, kommunenavn, addresses, real,
    generated, with_data, no_data, unmatched_rows``, then ``<measure>`` and ``<measure>_share`` for
    each of :data:`SPEED_MEASURES`, then ``<class>_<rule set id>`` for each of
    :data:`COUNTED_CLASSES`. The region row's ``unmatched_rows`` counts every unmatched mapping
    row, also those whose municipality name is not recognised.
    """
    codes, names = _municipality_list(addresses, municipalities)
    k = len(codes)
    where = lookup_positions(addresses["kommunekode"], pd.Index(codes))

    def per_municipality(mask: np.ndarray, at: np.ndarray = where) -> np.ndarray:
        keep = mask & (at >= 0)
        return np.bincount(at[keep], minlength=k).astype(np.int64)

    flags = coverage_flags(addresses, availability)
    everyone = np.ones(len(addresses), dtype=bool)
    counts: dict[str, np.ndarray] = {
        "addresses": per_municipality(everyone),
        "real": per_municipality(~flags["generated"].to_numpy()),
        "generated": per_municipality(flags["generated"].to_numpy()),
        "with_data": per_municipality(flags["has_data"].to_numpy()),
        "no_data": per_municipality(~flags["has_data"].to_numpy()),
    }
    unmatched = availability["address_id"].isna().to_numpy()
    # An unmatched row has no address, only the municipality name the mapping file gave.
    name_at = {fold(name): i for i, name in enumerate(names) if name}
    row_at = np.full(len(availability), -1, dtype=np.int64)
    if "kommunenavn" in availability.columns and unmatched.any():
        row_names = availability["kommunenavn"].astype("string").fillna("")[unmatched]
        lookup = {v: name_at.get(fold(v), -1) for v in row_names.unique()}
        row_at[unmatched] = row_names.map(lookup).to_numpy(dtype=np.int64)
    counts["unmatched_rows"] = per_municipality(unmatched, row_at)
    for measure in SPEED_MEASURES:
        counts[measure] = per_municipality(flags[measure].to_numpy())
    for rule_id, assessment in assessments_by_rule_set.items():
        at = lookup_positions(assessment["kommunekode"], pd.Index(codes))
        labels = pd.Categorical(assessment["class"], categories=CLASSES)
        for cls in COUNTED_CLASSES:
            counts[f"{cls}_{rule_id}"] = per_municipality(labels.codes == CLASSES.index(cls), at)

    table = pd.DataFrame(counts)
    total = table.sum(axis=0).to_frame().T
    total["unmatched_rows"] = int(unmatched.sum())
    table = pd.concat([table, total], ignore_index=True).astype("int64")
    table.insert(0, "level", pd.array(["municipality"] * k + ["region"], dtype="string"))
    table.insert(1, "kommunekode", pd.array([*codes, None], dtype="string"))
    table.insert(2, "kommunenavn", pd.array([*names, region_name or "I alt"], dtype="string"))
    with_data = table["with_data"].to_numpy()
    for measure in SPEED_MEASURES:
        share = table[measure].to_numpy() / np.maximum(with_data, 1)
        table[f"{measure}_share"] = pd.Series(share, dtype="Float64").mask(with_data == 0)
    head = ["level", "kommunekode", "kommunenavn", "addresses", "real", "generated"]
    head += ["with_data", "no_data", "unmatched_rows"]
    speed = [c for m in SPEED_MEASURES for c in (m, f"{m}_share")]
    return table[head + speed + [c for c in table.columns if c not in {*head, *speed}]]


def _municipality_list(
    addresses: pd.DataFrame, municipalities: pd.DataFrame | None
) -> tuple[list[str], list[str]]:
    """Codes and names to report: the given list, plus any code only the addresses carry."""
    found = addresses["kommunekode"].astype("string").dropna().unique().tolist()
    names: dict[str, str] = {}
    if "kommunenavn" in addresses.columns and len(addresses):
        pairs = addresses[["kommunekode", "kommunenavn"]].drop_duplicates("kommunekode")
        names.update(
            zip(pairs["kommunekode"].astype(str), pairs["kommunenavn"].astype(str), strict=True)
        )
    listed: list[str] = []
    if municipalities is not None:
        listed = municipalities["kommunekode"].astype(str).tolist()
        names.update(zip(listed, municipalities["kommunenavn"].astype(str).tolist(), strict=True))
    codes = sorted(set(listed) | set(found))
    return codes, [names.get(c, "") for c in codes]


@dataclass
class ReleaseTables:
    """The release tables analysis reads, read once."""

    addresses: pd.DataFrame
    availability: pd.DataFrame
    municipalities: pd.DataFrame
    region_name: str | None


def read_release_tables(
    release: Release, *, geometry: bool = False, address_columns: Iterable[str] = ()
) -> ReleaseTables:
    """Read what assessment and statistics need (geometry only when a zone layer will be used)."""
    columns = list(dict.fromkeys([*_ADDRESS_COLUMNS, "kommunenavn", *address_columns]))
    if geometry:
        addresses: pd.DataFrame = release.read("addresses", columns=[*columns, "geometry"])
    else:
        addresses = pd.read_parquet(release.table_path("addresses"), columns=columns)
    availability = release.read("availability", columns=_AVAILABILITY_COLUMNS)
    municipalities = pd.read_parquet(
        release.table_path("municipalities"), columns=["kommunekode", "kommunenavn"]
    )
    region = release.manifest.get("region") or {}
    return ReleaseTables(addresses, availability, municipalities, region.get("name"))


def assess_release(
    release: Release,
    rule_set_keys: list[str] | None = None,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Assess a release's addresses under each rule set (all when ``rule_set_keys`` is None).

    The tables are read once and aligned once; the result is keyed by rule set id, each frame
    aligned with the release's ``addresses`` table.
    """
    tables = read_release_tables(release, geometry=zone_layer is not None)
    rule_sets = resolve_rule_sets(rule_set_keys)
    return assess_many(tables.addresses, tables.availability, rule_sets, zone_layer)


def release_stats(
    release: Release,
    rule_set_keys: list[str] | None = None,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """:func:`municipality_stats` for a release: every municipality of it, and the region total."""
    tables = read_release_tables(release, geometry=zone_layer is not None)
    assessments = assess_many(
        tables.addresses, tables.availability, resolve_rule_sets(rule_set_keys), zone_layer
    )
    return municipality_stats(
        tables.addresses,
        assessments,
        tables.availability,
        tables.municipalities,
        region_name=tables.region_name,
    )


__all__ = [
    "COUNTED_CLASSES",
    "SPEED_MEASURES",
    "ReleaseTables",
    "assess_release",
    "coverage_flags",
    "municipality_stats",
    "read_release_tables",
    "release_stats",
]
