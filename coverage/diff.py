"""What changed between two releases: per address, per municipality, per zone and per source.

The mapping is republished every year and operators correct it in between. A planner asks "since the
last data, which addresses got fast broadband, which lost it, which became or stopped being eligible,
and which zones grew or vanished?". :func:`diff_releases` answers from two published releases:

* **addresses** are compared by register id. An id only in the newer register is
  ``added_to_register``, only in the older one ``removed_from_register``; those two are their own
  categories and carry no speed kinds. For ids in both, the best fixed offer (download first, then
  upload), its technology, the mobile offer and, under a rule set, the pool class are compared.
  An address without a mapping row counts as offered nothing (the mapping's 0 = not offered); its
  speeds are shown as empty, and under a rule set its class says ``no_data``.
* **municipalities** get a count of each kind (an address can have several kinds, e.g. ``got_fast``
  and ``technology_changed``, and counts once in each).
* **zones** (underserved zones under the rule set, :mod:`coverage.zones`) are paired by their stable
  id, then by the largest overlap, and called new, vanished, grown, shrunk, reshaped, merged, split
  or unchanged.
* **sources** are compared by the sha256 each release recorded for its inputs. Two releases built
  from byte-identical inputs (same ``inputs_digest``) are reported as identical, with no change rows,
  without reading a single table.

Addresses are paired with one hash lookup on the register id (``pyarrow.compute.index_in``) and
compared as aligned arrays; zones with one STRtree bulk query. Nothing loops over addresses: a diff of
two region-size releases (850,000 addresses) takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from rapidfuzz import fuzz, process

from coverage.addressdiff import (
    CHANGE_COLUMNS,
    CHANGE_KINDS,
    FAST_MBIT,
    PRIMARY_ORDER,
    AddressState,
    address_changes,
    empty_changes,
)
from coverage.addresstext import fold
from coverage.assess import CLASSES
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.export import resolve_municipalities as export_municipalities
from coverage.release import Release, ReleaseStore
from coverage.rules import RuleSet, get_rule_set
from coverage.types import WEB_CRS, WORK_CRS
from coverage.zonediff import (
    ZONE_CHANGE_COLUMNS,
    ZONE_CHANGE_KINDS,
    empty_zone_changes,
    zone_changes,
)
from coverage.zones import ELIGIBLE_CLASSES, underserved_zones


@dataclass(frozen=True)
class SourceChange:
    """One input file compared between two releases by its recorded sha256."""

    kind: str
    status: str
    """``unchanged`` (same bytes, possibly another path), ``changed``, ``added`` or ``removed``."""
    path_from: str | None
    path_to: str | None
    sha256_from: str | None
    sha256_to: str | None

    def record(self) -> dict[str, Any]:
        """As JSON-ready data naming files, not folders (a server's layout is nobody's business)."""
        return {
            "kind": self.kind,
            "status": self.status,
            "file_from": Path(self.path_from).name if self.path_from else None,
            "file_to": Path(self.path_to).name if self.path_to else None,
            "sha256_from": self.sha256_from,
            "sha256_to": self.sha256_to,
        }


@dataclass
class ReleaseDiff:
    """What changed from release ``from_id`` to release ``to_id``.

    ``changes`` has one row per changed address (:data:`CHANGE_COLUMNS`, EPSG:25832 points: the newer
    position, the older one for removed addresses); ``counts`` one row per municipality with a column
    per kind of :data:`CHANGE_KINDS` plus ``changed`` (addresses with any change); ``zones`` one row
    per zone pairing (:data:`ZONE_CHANGE_COLUMNS`, empty without a rule set).
    """

    from_id: str
    to_id: str
    identical: bool
    rule_set: str | None
    municipalities: list[str] | None
    generated: bool
    sources: list[SourceChange]
    changes: gpd.GeoDataFrame
    counts: pd.DataFrame
    zones: gpd.GeoDataFrame
    addresses_from: int = 0
    addresses_to: int = 0

    def totals(self) -> dict[str, int]:
        """Changed addresses per kind over all municipalities (zeros included)."""
        if self.counts.empty:
            return dict.fromkeys((*CHANGE_KINDS, "changed"), 0)
        return {k: int(self.counts[k].sum()) for k in (*CHANGE_KINDS, "changed")}

    def zone_totals(self) -> dict[str, int]:
        """Zone pairings per kind of zone change (zeros included)."""
        found = self.zones["change"].value_counts() if len(self.zones) else pd.Series(dtype=int)
        return {k: int(found.get(k, 0)) for k in ZONE_CHANGE_KINDS}

    def layers(self) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
        """The export layers: changed addresses, zone changes and the counts per municipality."""
        return {
            "changed_addresses": self.changes,
            "zone_changes": self.zones,
            "change_counts": self.counts,
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description without the per-address rows."""
        return {
            "from": self.from_id,
            "to": self.to_id,
            "identical": self.identical,
            "rule_set": self.rule_set,
            "municipalities": self.municipalities,
            "generated": self.generated,
            "addresses_from": self.addresses_from,
            "addresses_to": self.addresses_to,
            "sources": [s.record() for s in self.sources],
            "totals": self.totals(),
            "zone_totals": self.zone_totals(),
            "counts": plain_records(self.counts),
        }


# --------------------------------------------------------------------------------------------------
# Entry points


def releases_to_compare(
    store: ReleaseStore, from_id: str | None = None, to_id: str | None = None
) -> tuple[Release, Release]:
    """The two releases to compare: by default the one before ``to_id`` and ``to_id`` (``current``).

    A release id that does not exist, or a release with nothing before it, is a
    :class:`~coverage.errors.NotFoundError` listing the releases there are.
    """
    known = [r.id for r in store.list()]
    suggestions = [{"id": rid, "text": rid} for rid in reversed(known[-5:])]
    for rid in (from_id, to_id):
        if rid not in (None, "current") and rid not in known:
            listed = ", ".join(known) or "none"
            raise NotFoundError(f"no release {rid!r}; releases: {listed}", suggestions)
    to_release = store.open(to_id or "current")
    if from_id is not None:
        return store.open(from_id), to_release
    before = store.previous(to_release.id)
    if before is None:
        raise NotFoundError(
            f"release {to_release.id} has no earlier release to compare with; build another "
            "release, or name both: netkort diff RELEASE_A RELEASE_B",
            suggestions,
        )
    return before, to_release


def diff_releases(
    a: Release,
    b: Release,
    rule_set: RuleSet | str | None = None,
    municipalities: Iterable[str] | None = None,
) -> ReleaseDiff:
    """Compare release ``a`` (older) with ``b`` (newer), optionally under a rule set and for some
    municipalities (codes like ``0741`` or names like ``Samsø``).

    Without a rule set, classes and zones are not compared (``class_*`` columns are empty, the zone
    layer has no rows); everything else is.
    """
    rules = _rules(rule_set)
    codes = resolve_municipalities([a, b], municipalities)
    names = _municipality_names([a, b])
    n = int(b.manifest.get("counts", {}).get("addresses", {}).get("accepted", 0))
    same = ReleaseDiff(
        from_id=a.id,
        to_id=b.id,
        identical=True,
        rule_set=rules.id if rules is not None else None,
        municipalities=codes,
        generated=a.generated or b.generated,
        sources=compare_sources(a.manifest.get("inputs", []), b.manifest.get("inputs", [])),
        changes=empty_changes(),
        counts=_counts(empty_changes(), names, codes),
        zones=empty_zone_changes(),
        addresses_from=n,
        addresses_to=n,
    )
    if a.id == b.id or (_digest(a) is not None and _digest(a) == _digest(b)):
        return same  # byte-identical inputs, same software: not a new state
    older, newer = AddressState.read(a, codes, rules), AddressState.read(b, codes, rules)
    changes = address_changes(older, newer)
    zones = empty_zone_changes()
    if rules is not None:
        zones = zone_changes(_zones(a, older, codes, rules.id), _zones(b, newer, codes, rules.id))
    return replace(
        same,
        identical=False,
        changes=changes,
        counts=_counts(changes, names, codes),
        zones=zones,
        addresses_from=older.n,
        addresses_to=newer.n,
    )


def compare_sources(
    inputs_from: Sequence[dict[str, Any]], inputs_to: Sequence[dict[str, Any]]
) -> list[SourceChange]:
    """Pair the inputs of two manifests per kind and say which changed.

    Within a kind, files are paired first by identical bytes (a file moved to another folder is
    unchanged), then by identical path, then by identical file name, then in manifest order; what is
    left over was added or removed.
    """
    out: list[SourceChange] = []
    kinds = list(dict.fromkeys([i["kind"] for i in inputs_from] + [i["kind"] for i in inputs_to]))
    for kind in kinds:
        left = [i for i in inputs_from if i["kind"] == kind]
        right = [i for i in inputs_to if i["kind"] == kind]
        paired: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for same in (
            lambda i: i["sha256"],
            lambda i: i["path"],
            lambda i: i["path"].replace("\\", "/").rsplit("/", 1)[-1],
        ):
            for x in list(left):
                match = next((y for y in right if same(y) == same(x)), None)
                if match is not None:
                    paired.append((x, match))
                    left.remove(x)
                    right.remove(match)
        # Whatever is left is paired in manifest order; the longer side's tail was added / removed.
        n = min(len(left), len(right))
        paired += list(zip(left[:n], right[:n], strict=True))
        for x, y in paired:
            status = "unchanged" if x["sha256"] == y["sha256"] else "changed"
            out.append(SourceChange(kind, status, x["path"], y["path"], x["sha256"], y["sha256"]))
        for x in left[n:]:
            out.append(SourceChange(kind, "removed", x["path"], None, x["sha256"], None))
        for y in right[n:]:
            out.append(SourceChange(kind, "added", None, y["path"], None, y["sha256"]))
    return out


def resolve_municipalities(
    releases: Sequence[Release], values: Iterable[str] | None
) -> list[str] | None:
    """Municipality codes for codes (``0741``, ``741``) or names (``Samsø``) held by the releases.

    Raises :class:`~coverage.errors.NotFoundError` naming the value and the valid codes, with the
    municipalities as suggestions (``id`` the code, ``text`` code and name).
    """
    names = _municipality_names(releases)
    table = pd.DataFrame({"kommunekode": list(names), "kommunenavn": list(names.values())})
    try:
        return export_municipalities(table, list(values) if values is not None else None)
    except NotFoundError as exc:
        # The five names closest to what was asked, in the service's suggestion shape.
        asked = fold(" ".join(str(v) for v in values or []))
        choices = {k: fold(f"{k} {n}") for k, n in names.items()}
        near = process.extract(asked, choices, scorer=fuzz.WRatio, limit=5)
        suggestions = [{"id": k, "text": f"{k} {names[k]}"} for _, _, k in near]
        raise NotFoundError(str(exc), suggestions) from None


def change_records(changes: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Changed addresses as JSON-ready records with their position in both CRSs.

    NaN and <NA> become None; ``east``/``north`` are EPSG:25832 metres, ``lon``/``lat`` EPSG:4326.
    """
    frame = pd.DataFrame(changes.drop(columns=changes.geometry.name))
    geoms = changes.geometry.to_numpy()
    lonlat = changes.geometry.to_crs(WEB_CRS).to_numpy() if len(changes) else geoms
    frame["east"] = shapely.get_x(geoms).round(2)
    frame["north"] = shapely.get_y(geoms).round(2)
    frame["lon"] = shapely.get_x(lonlat).round(7)
    frame["lat"] = shapely.get_y(lonlat).round(7)
    return plain_records(frame)


def zone_records(zones: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Zone changes as JSON-ready records, without the outline (see :func:`zones_geojson`)."""
    return plain_records(zones.drop(columns=zones.geometry.name))


def plain_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values; NaN and <NA> become None."""
    plain = frame.astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def parse_kinds(kinds: Iterable[str] | None) -> list[str]:
    """Kinds of change named by a user, checked against :data:`CHANGE_KINDS` (empty: all).

    Raises :class:`InvalidRequestError` naming an unknown kind and the known ones.
    """
    wanted = [str(k).strip() for k in kinds or [] if str(k).strip()]
    unknown = [k for k in wanted if k not in CHANGE_KINDS]
    if unknown:
        raise InvalidRequestError(
            f"unknown change kind {unknown[0]!r}; expected one of {', '.join(CHANGE_KINDS)}"
        )
    return wanted


def select_kinds(changes: gpd.GeoDataFrame, kinds: Iterable[str] | None) -> gpd.GeoDataFrame:
    """The changed addresses having any of the given kinds (all of them when ``kinds`` is empty)."""
    wanted = parse_kinds(kinds)
    if not wanted:
        return changes
    listed = ";" + changes["kinds"].astype("string").fillna("") + ";"
    keep = np.zeros(len(changes), dtype=bool)
    for kind in wanted:  # a handful of kinds, each a vectorised string test
        keep |= listed.str.contains(f";{kind};", regex=False).to_numpy(bool)
    return changes.loc[keep].reset_index(drop=True)


def _counts(changes: pd.DataFrame, names: dict[str, str], codes: list[str] | None) -> pd.DataFrame:
    """Counts of each kind per municipality; every municipality listed, zero where nothing changed."""
    index = pd.Index(codes if codes is not None else sorted(names), name="kommunekode", dtype=str)
    kinds = list(CHANGE_KINDS)
    if len(changes):
        listed = ";" + changes["kinds"].astype(str) + ";"
        flags = pd.DataFrame({k: listed.str.contains(f";{k};", regex=False) for k in kinds})
        flags["changed"] = True
        sums = flags.groupby(changes["kommunekode"].astype(str).to_numpy()).sum()
        # An address whose code no manifest names still counts, in a row of its own.
        index = index.append(sums.index.difference(index)).rename("kommunekode")
        table = sums.reindex(index).fillna(0).astype("int64")
    else:
        table = pd.DataFrame(0, index=index, columns=[*kinds, "changed"], dtype="int64")
    table.insert(0, "kommunenavn", pd.array([names.get(k) for k in table.index], dtype="string"))
    return table.reset_index()


# --------------------------------------------------------------------------------------------------
# Zones


def _zones(
    release: Release, state: AddressState, codes: list[str] | None, label: str
) -> gpd.GeoDataFrame:
    """The release's underserved zones: its eligible addresses joined on the grid, per municipality.

    Only the selected addresses matter to a zone, so only they are handed over (as points).
    """
    rows = np.flatnonzero(np.isin(state.klass, [CLASSES.index(c) for c in ELIGIBLE_CLASSES]))
    ids = state.text["id"].take(pa.array(rows, type=pa.int64())).to_pandas().astype("string")
    text = state.text.take(pa.array(rows, type=pa.int64()))
    addresses = gpd.GeoDataFrame(
        {
            "id": ids,
            "kommunekode": text["kommunekode"].to_pandas().astype("string"),
            "kommunenavn": text["kommunenavn"].to_pandas().astype("string"),
            "zone": state.zone.to_numpy()[rows],
            "generated": state.generated[rows],
        },
        geometry=shapely.points(state.east[rows], state.north[rows]),
        crs=WORK_CRS,
    )
    assessment = pd.DataFrame(
        {
            "address_id": ids,
            "class": pd.Categorical.from_codes(state.klass[rows], categories=list(CLASSES)),
            "best_down": state.down[rows],
            "best_up": state.up[rows],
            "mobile_down": state.mobile_down[rows],
            "zone": state.zone.to_numpy()[rows],
            "generated": state.generated[rows],
        }
    )
    municipalities = release.read("municipalities")
    if codes is not None:
        municipalities = municipalities.loc[municipalities["kommunekode"].isin(codes).to_numpy()]
    return underserved_zones(
        addresses,
        np.ones(len(rows), dtype=bool),
        municipalities,
        assessment=assessment,
        label=label,
    )


def _rules(rule_set: RuleSet | str | None) -> RuleSet | None:
    if rule_set is None or not isinstance(rule_set, str):
        return rule_set
    return get_rule_set(rule_set)


def _digest(release: Release) -> str | None:
    return release.manifest.get("inputs_digest")


def _municipality_names(releases: Sequence[Release]) -> dict[str, str]:
    names: dict[str, str] = {}
    for release in releases:
        for m in release.manifest.get("municipalities", []):
            names.setdefault(str(m["kode"]), str(m["navn"]))
    return names


__all__ = [
    "CHANGE_COLUMNS",
    "CHANGE_KINDS",
    "FAST_MBIT",
    "PRIMARY_ORDER",
    "ZONE_CHANGE_COLUMNS",
    "ZONE_CHANGE_KINDS",
    "ReleaseDiff",
    "SourceChange",
    "change_records",
    "compare_sources",
    "diff_releases",
    "parse_kinds",
    "plain_records",
    "releases_to_compare",
    "resolve_municipalities",
    "select_kinds",
    "zone_changes",
    "zone_records",
]
