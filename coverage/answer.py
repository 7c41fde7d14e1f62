"""The answer to "what can this address get?": the address, fixed and mobile offers, the pool
under every rule set, zones, reports and sources, as plain JSON-ready values.

The HTTP service (``GET /api/lookup``) and ``netkort lookup`` both print :func:`lookup`'s dict; the
address index it searches lives in :mod:`coverage.lookup`. Everything an answer reads is prepared once
per release (columns as numpy codes, manifest parts, rule set titles), so an answer costs tens of
microseconds of plain Python rather than pandas row access.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import shapely

from coverage.assess import ASSESSMENT_COLUMNS, assess_many, assess_row
from coverage.columns import RowReader
from coverage.errors import InvalidRequestError
from coverage.grid import Cell
from coverage.lookup import NEAREST_DISTANCE, AddressIndex, PointInfo
from coverage.mobile_answer import MobileContext
from coverage.release import Release
from coverage.rules import load_rule_sets
from coverage.types import FIXED_TECHNOLOGIES, WORK_CRS
from coverage.zones import ELIGIBLE_CLASSES, eligible_mask, underserved_zones

log = logging.getLogger(__name__)

#: Assessment columns that depend on the rule set; the others are computed before any rule applies
#: and are equal under every rule set, so the assessments share them.
_PER_RULE_SET = frozenset(
    {"class", "reasons", "reason_da", "reason_en", "rule_set", "speed_outcome", "zone_outcome"}
)
_SAME_FOR_EVERY_RULE_SET = frozenset(ASSESSMENT_COLUMNS) - _PER_RULE_SET
#: Assessment columns an answer reads (the first rule set's best_* name the best fixed offer).
_POOL_FIELDS = (
    "class",
    "reasons",
    "reason_da",
    "reason_en",
    "zone",
    "zone_source",
    "best_down",
    "best_up",
    "best_tech",
)


@dataclass
class LookupContext:
    """What an answer draws on beside the index: the release, assessments, rule sets and zones.

    ``assessments`` holds one frame per rule set id, aligned row for row with the release's address
    table; ``zones`` one zones layer per rule set id (EPSG:25832).
    """

    release: Release
    assessments: dict[str, pd.DataFrame] = field(default_factory=dict)
    rule_sets: dict[str, Any] = field(default_factory=dict)
    zones: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    municipalities: gpd.GeoDataFrame | None = None
    mobile: MobileContext | None = None

    def __post_init__(self) -> None:
        # Every rule set's zones in one tree: one query per answer instead of one per rule set
        # (~12 µs each). Geometries keep their rule set's order, so sorted hits are per set sorted.
        self.zone_rule_ids = list(self.zones)
        self.zone_tree = shapely.STRtree(
            np.concatenate([np.asarray(z.geometry.array) for z in self.zones.values()])
            if self.zones
            else []
        )
        self.zone_rule = np.repeat(
            np.arange(len(self.zones)), [len(z) for z in self.zones.values()]
        ).astype(np.int16)
        # Converted once per release: doing it per lookup cost ~0.6 ms of a 3 ms answer.
        self.zone_id_list: list[str] = [
            str(v) for z in self.zones.values() for v in z["zone_id"].tolist()
        ]
        munis = self.municipalities
        self.municipality_tree = shapely.STRtree(munis.geometry.array if munis is not None else [])
        # Per release, not per answer: assessment columns as codes, titles, manifest parts.
        self.pool_fields = {k: RowReader(a, _POOL_FIELDS) for k, a in self.assessments.items()}
        self.titles = {
            k: (r.title.model_dump() if (r := self.rule_sets.get(k)) is not None else None)
            for k in self.assessments
        }
        manifest = self.release.manifest
        self.municipality_codes = {m["navn"]: m["kode"] for m in manifest.get("municipalities", [])}
        self.inputs = {Path(i["path"]).name: i for i in manifest.get("inputs", [])}
        self.input_list = [
            {
                "kind": i.get("kind"),
                "file": name,
                "year": i.get("year"),
                "generated": bool(i.get("generated", False)),
            }
            for name, i in self.inputs.items()
        ]

    @classmethod
    def from_release(
        cls,
        release: Release,
        addresses: pd.DataFrame,
        availability: pd.DataFrame,
        *,
        assessments: dict[str, pd.DataFrame] | None = None,
    ) -> LookupContext:
        """Assess the release's addresses under every rule set (unless ``assessments`` from
        :func:`assess_addresses` are given) and derive each set's zones (the tables are passed in:
        they are read once). ``addresses`` may lack point geometry: zones then use points built
        from ``east`` / ``north`` for the eligible addresses only."""
        munis = release.read("municipalities")
        rule_sets = {r.id: r for r in load_rule_sets()}
        if assessments is None:
            assessments = assess_addresses(addresses, availability)
        zones = {}
        for rid, a in assessments.items():
            mask = eligible_mask(a)
            zones[rid] = underserved_zones(
                _with_points(addresses, mask), mask, munis, assessment=a, label=rid
            )
        mobile = MobileContext.from_release(release, addresses["id"])
        return cls(release, assessments, rule_sets, zones, munis, mobile=mobile)

    def zone_ids(self, east: float, north: float) -> dict[str, list[str]]:
        """Ids of the zones (per rule set) containing a point in EPSG:25832."""
        out: dict[str, list[str]] = {rid: [] for rid in self.zone_rule_ids}
        hits = self.zone_tree.query(shapely.Point(east, north), predicate="intersects")
        for hit in np.sort(hits).tolist():
            out[self.zone_rule_ids[self.zone_rule[hit]]].append(self.zone_id_list[hit])
        return out


def assess_addresses(
    addresses: pd.DataFrame, availability: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Every address under every rule set, row for row with ``addresses``, keyed by rule set id.

    Columns that do not depend on the rule set (speeds, zone, generated) are one array shared by
    every rule set's frame rather than a copy each (~17 MB per rule set at 850,000 addresses).
    """
    assessed = assess_many(addresses, availability, load_rule_sets())
    out: dict[str, pd.DataFrame] = {}
    first: pd.DataFrame | None = None
    for rid, frame in assessed.items():
        frame = _aligned(frame, addresses)
        if first is None:
            first = frame
        else:
            frame = pd.DataFrame(
                {c: first[c] if c in _SAME_FOR_EVERY_RULE_SET else frame[c] for c in frame},
                copy=False,
            )
        out[rid] = frame
    return out


def _with_points(addresses: pd.DataFrame, mask: np.ndarray) -> gpd.GeoDataFrame:
    """The addresses as a GeoDataFrame in EPSG:25832; without geometry of their own, points from
    ``east`` / ``north`` where ``mask`` holds and none elsewhere (zones only read those)."""
    if isinstance(addresses, gpd.GeoDataFrame):
        return addresses
    geometry = np.full(len(addresses), None, dtype=object)
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    geometry[rows] = shapely.points(
        addresses["east"].to_numpy(float)[rows], addresses["north"].to_numpy(float)[rows]
    )
    return gpd.GeoDataFrame(addresses, geometry=geometry, crs=WORK_CRS)


def _same_ids(a: pd.Series, b: pd.Series) -> bool:
    """Whether two id columns hold the same texts in the same order, compared by Arrow (no
    Python string per row)."""
    return len(a) == len(b) and bool(
        pa.array(a.astype("string")).equals(pa.array(b.astype("string")))
    )


def _aligned(assessment: pd.DataFrame, addresses: pd.DataFrame) -> pd.DataFrame:
    """The assessment in the address table's row order, with repeated texts stored once."""
    if not _same_ids(assessment["address_id"], addresses["id"]):
        assessment = assessment.set_index("address_id").reindex(addresses["id"]).reset_index()
    # Reason texts repeat for every address with the same speeds: categories hold each once, which
    # keeps four rule sets over a region's 850,000 addresses in a few hundred MB instead of GBs.
    for column in ("reasons", "reason_da", "reason_en", "class", "zone_source", "best_tech"):
        if column in assessment.columns:
            assessment[column] = assessment[column].astype("category")
    return assessment.reset_index(drop=True)


def lookup(
    index: AddressIndex,
    context: LookupContext,
    *,
    q: str | None = None,
    id: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    max_distance: float = NEAREST_DISTANCE,
) -> dict[str, Any]:
    """The answer for exactly one of: address text ``q``, address ``id``, or ``lon`` + ``lat``.

    Raises InvalidRequestError when the question is malformed and NotFoundError (with suggestions)
    when nothing answers it. The HTTP service and ``netkort lookup`` both print this dict.
    """
    given = [q is not None, id is not None, lon is not None or lat is not None]
    if sum(given) != 1:
        raise InvalidRequestError(
            "give exactly one of: q (address text), id (address id), or lon and lat (WGS84 degrees)"
        )
    query = {"text": q, "id": id, "lon": lon, "lat": lat}
    if q is not None:
        if not q.strip():
            raise InvalidRequestError(
                "q is empty: write an address, e.g. 'Strandvejen 52, 8305 Samsø'"
            )
        hit = index.resolve(q)
        return lookup_answer(index, hit.entry, context, query=query, match=hit.quality)
    if id is not None:
        return lookup_answer(index, index.by_id(id), context, query=query, match="id")
    if lon is None or lat is None:
        raise InvalidRequestError("lon and lat go together: give both (WGS84 degrees)")
    entry, point = index.nearest(lon, lat, max_distance)
    return lookup_answer(index, entry, context, query=query, match="nearest", point=point)


def _num(value: Any) -> float | None:
    """A JSON number, or None for NaN / <NA> (the file had no such column)."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if number != number else round(number, 3)  # NaN is not equal to itself


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # what the row readers give: checked first, it is most values
        return value
    return None if pd.isna(value) else str(value)


def _best_fixed(techs: dict[str, dict[str, float | None]]) -> dict[str, Any]:
    """Best fixed download and the up of the same technology; ties: higher up, then list order."""
    offered = [(t, s) for t, s in techs.items() if s["down"] is not None and s["down"] > 0]
    if not offered:
        known = any(s["down"] is not None for s in techs.values())
        return {"down": 0.0 if known else None, "up": 0.0 if known else None, "technology": None}
    tech, speeds = max(offered, key=lambda ts: (ts[1]["down"], ts[1]["up"] or -1.0))
    return {"down": speeds["down"], "up": speeds["up"], "technology": tech}


def lookup_answer(
    index: AddressIndex,
    entry: int,
    context: LookupContext,
    *,
    query: dict[str, Any] | None = None,
    match: str = "id",
    point: PointInfo | None = None,
) -> dict[str, Any]:
    """Everything known about one index entry: address, fixed and mobile offers, the pool under
    each rule set, zones, the release and the sources. Plain JSON-ready values only."""
    addr_row, avail_row = int(index.addr_row[entry]), int(index.avail_row[entry])
    row = index.address_fields.row(addr_row) if addr_row >= 0 else None
    avail = index.mapping_fields.row(avail_row) if avail_row >= 0 else None
    manifest = context.release.manifest
    lonlat = index.lonlat(entry)
    kommunenavn = _text(row["kommunenavn"] if row is not None else avail["kommunenavn"])  # type: ignore[index]
    generated = bool(row is not None and row["generated"]) or bool(
        avail is not None and avail["generated"]
    )
    vejnavn, husnr, postnr, town = index.parts(entry)
    east, north = float(index.east[entry]), float(index.north[entry])
    address = {
        "id": index.ids[entry],
        "text": index.text(entry),
        "vejnavn": vejnavn,
        "husnr": husnr,
        "postnr": postnr,
        "postnrnavn": _text(town),
        "supplerendebynavn": _text(row["supplerendebynavn"]) if row is not None else None,
        "kommunekode": _text(row["kommunekode"])
        if row is not None
        else context.municipality_codes.get(kommunenavn or ""),
        "kommunenavn": kommunenavn,
        "zone": _text(row["zone"]) if row is not None else None,
        "lon": round(lonlat[0], 7) if lonlat else None,
        "lat": round(lonlat[1], 7) if lonlat else None,
        "east": None if east != east else round(east, 3),
        "north": None if north != north else round(north, 3),
        # Derived from the position, as the build derives the column (the service does not hold
        # 850,000 cell names: 20 MB at region size).
        "ddkn_m100": Cell(100, int(north // 100), int(east // 100)).name
        if row is not None and east == east and north == north
        else None,
        "position_known": lonlat is not None,
        "in_register": row is not None,
        "generated": bool(row is not None and row["generated"]),
    }
    techs = {
        t: {
            "down": _num(avail[f"{t}_down"]) if avail is not None else None,
            "up": _num(avail[f"{t}_up"]) if avail is not None else None,
        }
        for t in FIXED_TECHNOLOGIES
    }
    assessed = _assessed(context, index, addr_row, avail_row)
    best = _best_fixed(techs)
    if assessed and avail is not None:  # the assessment's choice is the one its reasons name
        first = next(iter(assessed.values()))
        best = {
            "down": _num(first["best_down"]),
            "up": _num(first["best_up"]),
            "technology": _text(first["best_tech"]),
        }
    source_file = Path(str(avail["source_file"])).name if avail is not None else ""
    mapping_input = context.inputs.get(source_file, {}) if avail is not None else {}
    notes: list[str] = []
    if generated:
        notes.append(
            "GENERATED record (netkort synth), not real data / genererede data, ikke virkelige."
        )
    if avail is None:
        notes.append("The broadband mapping has no row for this address.")
    if lonlat is None:
        notes.append("The mapping row matched no register address, so its position is unknown.")
    return {
        "query": {**(query or {}), "match": match},
        "address": address,
        "fixed": {"technologies": techs, "best": best},
        "mobile": {
            "declared": None
            if avail is None
            else {
                "down": _num(avail["mobile_down"]),
                "up": _num(avail["mobile_up"]),
                "source": mapping_input.get("attribution") or None,
                "file": source_file,
                "year": None if avail["year"] is None else int(avail["year"]),
            },
            "observations": [] if context.mobile is None else context.mobile.observations(addr_row),
            "gap": None if context.mobile is None else context.mobile.gap(addr_row),
        },
        "pool": _pool(context, assessed, address),
        "point": None if point is None else _point(context, point),
        "release": {
            "id": context.release.id,
            "created": manifest.get("created"),
            "generated": context.release.generated,
        },
        "sources": {
            "attribution": list(manifest.get("attribution", [])),
            "inputs": [dict(i) for i in context.input_list],
        },
        "generated": generated,
        "notes": notes,
    }


def _assessed(
    context: LookupContext, index: AddressIndex, addr_row: int, avail_row: int
) -> dict[str, Any]:
    """The assessment row under each rule set: the release's for an address, and
    :func:`coverage.assess.assess_row` for a mapping row that matched none."""
    if addr_row >= 0:
        return {rid: fields.row(addr_row) for rid, fields in context.pool_fields.items()}
    if avail_row < 0 or not context.assessments:
        return {}
    row = index.availability.iloc[avail_row].to_dict()  # rare: a mapping row without an address
    return {rid: assess_row(row, None, context.rule_sets[rid]) for rid in context.assessments}


def _pool(
    context: LookupContext, assessed: dict[str, Any], address: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Class, reasons (machine, Danish, English), zone and zone ids under each rule set."""
    zones = context.zone_ids(address["east"], address["north"]) if address["position_known"] else {}
    out: dict[str, dict[str, Any]] = {}
    for rid, a in assessed.items():
        reasons = a["reasons"]
        title = context.titles.get(rid)
        out[rid] = {
            "class": str(a["class"]),
            "title": dict(title) if title is not None else None,
            "reasons": orjson.loads(reasons) if isinstance(reasons, str) else list(reasons or []),
            "reason_da": _text(a["reason_da"]),
            "reason_en": _text(a["reason_en"]),
            "zone": _text(a["zone"]),
            "zone_source": _text(a["zone_source"]),
            "zone_ids": zones.get(rid, []),
        }
    return out


def _point(context: LookupContext, point: PointInfo) -> dict[str, Any]:
    """What is known at the asked position itself: its municipality and the zones covering it."""
    munis = context.municipalities
    hits = context.municipality_tree.query(
        shapely.Point(point.east, point.north), predicate="intersects"
    )
    muni = munis.iloc[int(np.min(hits))] if munis is not None and len(hits) else None
    return {
        "lon": point.lon,
        "lat": point.lat,
        "east": round(point.east, 2),
        "north": round(point.north, 2),
        "distance_m": round(point.distance_m, 1),
        "kommunekode": None if muni is None else str(muni["kommunekode"]),
        "kommunenavn": None if muni is None else str(muni["kommunenavn"]),
        "zone_ids": context.zone_ids(point.east, point.north),
        "mobile": []
        if context.mobile is None
        else context.mobile.at_point(point.east, point.north),
    }


__all__ = [
    "ELIGIBLE_CLASSES",
    "LookupContext",
    "assess_addresses",
    "lookup",
    "lookup_answer",
]
