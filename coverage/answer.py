"""The answer to "what can this address get?": the address, fixed and mobile offers, the pool
under every rule set, zones, reports and sources, as plain JSON-ready values.

The HTTP service (``GET /api/lookup``) and ``netkort lookup`` both print :func:`lookup`'s dict; the
address index it searches lives in :mod:`coverage.lookup`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.assess import assess_many, assess_row
from coverage.errors import InvalidRequestError
from coverage.lookup import NEAREST_DISTANCE, AddressIndex, PointInfo
from coverage.mobile_answer import MobileContext
from coverage.release import Release
from coverage.rules import load_rule_sets
from coverage.types import FIXED_TECHNOLOGIES
from coverage.zones import eligible_mask, underserved_zones

log = logging.getLogger(__name__)

ELIGIBLE_CLASSES = ("eligible", "eligible_blue", "eligible_if_zone")


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
        self.zone_trees = {k: shapely.STRtree(z.geometry.array) for k, z in self.zones.items()}
        # Converted once per release: doing it per lookup cost ~0.6 ms of a 3 ms answer.
        self.zone_id_arrays = {
            k: z["zone_id"].astype(str).to_numpy(dtype=object) for k, z in self.zones.items()
        }
        munis = self.municipalities
        self.municipality_tree = shapely.STRtree(munis.geometry.array if munis is not None else [])

    @classmethod
    def from_release(
        cls, release: Release, addresses: pd.DataFrame, availability: pd.DataFrame
    ) -> LookupContext:
        """Assess the release's addresses under every rule set and derive each set's zones (the
        tables are passed in: they are read once)."""
        munis = release.read("municipalities")
        rule_sets = {r.id: r for r in load_rule_sets()}
        assessed = assess_many(addresses, availability, rule_sets.values())
        assessments = {k: _aligned(a, addresses) for k, a in assessed.items()}
        zones = {
            rid: underserved_zones(addresses, eligible_mask(a), munis, assessment=a, label=rid)
            for rid, a in assessments.items()
        }
        mobile = MobileContext.from_release(release, addresses["id"])
        return cls(release, assessments, rule_sets, zones, munis, mobile=mobile)

    def zone_ids(self, east: float, north: float) -> dict[str, list[str]]:
        """Ids of the zones (per rule set) containing a point in EPSG:25832."""
        point = shapely.Point(east, north)
        out = {}
        for rid, tree in self.zone_trees.items():
            hits = np.sort(tree.query(point, predicate="intersects"))
            out[rid] = list(self.zone_id_arrays[rid][hits])
        return out


def _aligned(assessment: pd.DataFrame, addresses: pd.DataFrame) -> pd.DataFrame:
    """The assessment in the address table's row order, with repeated texts stored once."""
    if not np.array_equal(
        assessment["address_id"].astype(str).to_numpy(), addresses["id"].astype(str).to_numpy()
    ):
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
    if value is None or pd.isna(value):
        return None
    return round(float(value), 3)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)


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
    row = index.addresses.iloc[addr_row] if addr_row >= 0 else None
    avail = index.availability.iloc[avail_row] if avail_row >= 0 else None
    manifest = context.release.manifest
    codes = {m["navn"]: m["kode"] for m in manifest.get("municipalities", [])}
    lonlat = index.lonlat(entry)
    kommunenavn = _text(row["kommunenavn"] if row is not None else avail["kommunenavn"])  # type: ignore[index]
    generated = bool(row is not None and row["generated"]) or bool(
        avail is not None and avail["generated"]
    )
    vejnavn, husnr, postnr, town = index.parts(entry)
    address = {
        "id": str(index.ids[entry]),
        "text": index.text(entry),
        "vejnavn": vejnavn,
        "husnr": husnr,
        "postnr": postnr,
        "postnrnavn": _text(town),
        "supplerendebynavn": _text(row["supplerendebynavn"]) if row is not None else None,
        "kommunekode": _text(row["kommunekode"])
        if row is not None
        else codes.get(kommunenavn or ""),
        "kommunenavn": kommunenavn,
        "zone": _text(row["zone"]) if row is not None else None,
        "lon": round(lonlat[0], 7) if lonlat else None,
        "lat": round(lonlat[1], 7) if lonlat else None,
        "east": _num(index.east[entry]),
        "north": _num(index.north[entry]),
        "ddkn_m100": _text(row["ddkn_m100"]) if row is not None else None,
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
    assessed = _assessed(context, addr_row, avail)
    best = _best_fixed(techs)
    if assessed and avail is not None:  # the assessment's choice is the one its reasons name
        first = next(iter(assessed.values()))
        best = {
            "down": _num(first["best_down"]),
            "up": _num(first["best_up"]),
            "technology": _text(first["best_tech"]),
        }
    inputs = {Path(i["path"]).name: i for i in manifest.get("inputs", [])}
    mapping_input = (
        inputs.get(Path(str(avail["source_file"])).name, {}) if avail is not None else {}
    )
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
                "file": Path(str(avail["source_file"])).name,
                "year": None if pd.isna(avail["year"]) else int(avail["year"]),
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
            "inputs": [
                {
                    "kind": i.get("kind"),
                    "file": name,
                    "year": i.get("year"),
                    "generated": bool(i.get("generated", False)),
                }
                for name, i in inputs.items()
            ],
        },
        "generated": generated,
        "notes": notes,
    }


def _assessed(context: LookupContext, addr_row: int, avail: pd.Series | None) -> dict[str, Any]:
    """The assessment row under each rule set: the release's for an address, and
    :func:`coverage.assess.assess_row` for a mapping row that matched none."""
    if addr_row >= 0:
        return {rid: frame.iloc[addr_row] for rid, frame in context.assessments.items()}
    if avail is None or not context.assessments:
        return {}
    row = avail.to_dict()
    return {rid: assess_row(row, None, context.rule_sets[rid]) for rid in context.assessments}


def _pool(
    context: LookupContext, assessed: dict[str, Any], address: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Class, reasons (machine, Danish, English), zone and zone ids under each rule set."""
    zones = context.zone_ids(address["east"], address["north"]) if address["position_known"] else {}
    out: dict[str, dict[str, Any]] = {}
    for rid, a in assessed.items():
        rules = context.rule_sets.get(rid)
        reasons = a["reasons"]
        out[rid] = {
            "class": str(a["class"]),
            "title": rules.title.model_dump() if rules is not None else None,
            "reasons": json.loads(reasons) if isinstance(reasons, str) else list(reasons or []),
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
    "lookup",
    "lookup_answer",
]
